// The etcd backend against a real etcd: its client, and several hosts (IpamServices on
// ClusterStores, each with its own lease state) sharing one address plan.
#include "integration/etcd_testing.h"
#include "ipam/ipam_metrics.h"

namespace gipam {
namespace {

TEST_F(EtcdStoreTest, ClientComparesWritesAndReadsBinaryKeys) {
    store::EtcdClient client(endpoints());
    const std::string key = std::string("/t/\0\xff", 5);
    using store::Compare;
    using store::Operation;
    const Compare absent{key, Compare::Target::Create, Compare::Result::Equal, 0, {}, {}};
    const Operation put{Operation::Kind::Put, key, "v\n1", {}, 0, 0};
    const Operation read{Operation::Kind::Range, key, {}, {}, 0, 0};
    EXPECT_TRUE(client.txn({absent}, {put}, {read}, soon()).succeeded);
    const auto failed = client.txn({absent}, {put}, {read}, soon());
    EXPECT_FALSE(failed.succeeded);
    ASSERT_EQ(failed.ranges.size(), 1u);
    ASSERT_EQ(failed.ranges[0].size(), 1u);
    EXPECT_EQ(failed.ranges[0][0].key, key);
    EXPECT_EQ(failed.ranges[0][0].value, "v\n1");
    EXPECT_GT(failed.ranges[0][0].createRevision, 0);
    EXPECT_EQ(client.range("/t/", store::prefixEnd("/t/"), soon()).kvs.size(), 1u);
}

TEST_F(EtcdStoreTest, ClientMovesOnFromADeadEndpoint) {
    const std::string dead = "http://127.0.0.1:" + std::to_string(testing::freeLoopbackPort());
    store::EtcdClient client({dead, endpoints()[0]});
    EXPECT_TRUE(client.range("/x", {}, soon()).kvs.empty());
}

TEST_F(EtcdStoreTest, UnreachableEtcdFailsWithinThreeSecondsNamingTheEndpoint) {
    const std::string dead = "http://127.0.0.1:" + std::to_string(testing::freeLoopbackPort());
    store::EtcdClient client({dead});
    const auto start = std::chrono::steady_clock::now();
    const auto message = errorOf([&] { client.range("/x", {}, start + ipam::kStoreBudget); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_NE(message.find("etcd"), std::string::npos) << message;
    EXPECT_NE(message.find(dead), std::string::npos) << message;
}

TEST_F(EtcdStoreTest, NoTwoHostsHoldOverlappingBlocks) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    EXPECT_EQ(a.service.requestPool(local("198.18.4.0/24")).pool, ip::Prefix::parse("198.18.4.0/24"));
    for (const auto* subnet : {"198.18.4.0/24", "198.18.4.128/25", "198.18.0.0/20", "198.18.4.0/22"}) {
        const auto message = errorOf([&] { b.service.requestPool(local(subnet)); });
        EXPECT_NE(message.find("held by node a"), std::string::npos) << subnet << ": " << message;
    }
    // Dynamic requests from both hosts at once: every block distinct, each claimed by its host.
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::vector<std::pair<std::string, ip::Prefix>> granted;
    for (auto* host : {&a, &b}) {
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, host] {
                for (int i = 0; i < 10; ++i) {
                    const auto grant = host->service.requestPool(local());
                    std::lock_guard lock(mutex);
                    granted.emplace_back(host->cluster.node(), grant.pool);
                }
            });
        }
    }
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(granted.size(), 80u);
    for (std::size_t i = 0; i < granted.size(); ++i) {
        EXPECT_FALSE(granted[i].second.overlaps(ip::Prefix::parse("198.18.4.0/24")));
        for (std::size_t j = i + 1; j < granted.size(); ++j) {
            EXPECT_FALSE(granted[i].second.overlaps(granted[j].second)) << granted[i].second.toString();
        }
    }
    EXPECT_EQ(keys("/gipam-test/blocks/4/").size(), 81u);
}

// A conflict tells a host of the one address it lost, not of the whole pool (etcd would read
// every key of it inside its apply loop): a host that knows nothing of what another took since it
// joined rereads the pool once conflicts repeat, and finds the one address left.
TEST_F(EtcdStoreTest, AHostWhosePicksKeepConflictingRereadsThePool) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    const auto pool = a.service.requestPool(local("", shared("lan")));
    b.service.requestPool(local("", shared("lan")));
    // a's first request reads the pool; what b takes after that, a does not see.
    std::set<ip::Address> taken{a.service.requestAddress({pool.poolId, "", {}}).address};
    const ip::U128 hosts = pool.pool.lastOffset() - 1;  // 254 in a /24
    for (ip::U128 i = 2; i < hosts; ++i) taken.insert(b.service.requestAddress({pool.poolId, "", {}}).address);
    ASSERT_EQ(taken.size(), static_cast<std::size_t>(hosts - 1));
    ip::U128 offset = 1;
    while (taken.count(pool.pool.at(offset))) ++offset;
    const auto left = pool.pool.at(offset);
    // With 252 of 253 taken unseen, eight picks that learn one address each find it 3 % of the time.
    EXPECT_EQ(a.service.requestAddress({pool.poolId, "", {}}).address, left);
}

TEST_F(EtcdStoreTest, ASharedPoolIsOnePoolOnEveryHostWithAddressesHandedOutOnce) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    const auto poolA = a.service.requestPool(local("", shared("lan")));
    const auto poolB = b.service.requestPool(local("", shared("lan")));
    EXPECT_EQ(poolA.poolId, poolB.poolId);
    EXPECT_EQ(poolA.pool, poolB.pool);
    // The gateway is held once, for both.
    EXPECT_EQ(a.service.requestAddress({poolA.poolId, "", kGateway}).address,
              b.service.requestAddress({poolB.poolId, "", kGateway}).address);
    // So is an address asked for by value before any container (--aux-address).
    EXPECT_EQ(a.service.requestAddress({poolA.poolId, "198.18.0.200", {}}).address.toString(), "198.18.0.200");
    EXPECT_EQ(b.service.requestAddress({poolB.poolId, "198.18.0.200", {}}).address.toString(), "198.18.0.200");
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::multiset<ip::Address> granted;
    for (auto* host : {&a, &b}) {
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, host] {
                for (int i = 0; i < 20; ++i) {
                    const auto grant = host->service.requestAddress({poolA.poolId, "", {}});
                    std::lock_guard lock(mutex);
                    granted.insert(grant.address);
                }
            });
        }
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(granted.size(), 160u);
    EXPECT_EQ(std::set<ip::Address>(granted.begin(), granted.end()).size(), 160u) << "an address was handed out twice";
    // A container's address asked for by value on the other host is refused.
    const auto taken = granted.begin()->toString();
    EXPECT_NE(errorOf([&] { b.service.requestAddress({poolB.poolId, taken, {}}); }), "");
    EXPECT_EQ(keys("/gipam-test/pools/" + poolA.poolId + "/addresses/").size(), 162u);
}

TEST_F(EtcdStoreTest, AnAddressReleasedInASharedPoolCoolsForEveryHostYetIsGrantedByValue) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    auto options = shared("lan");
    options[std::string(ipam::kReuseDelayOption)] = "1h";
    const auto pool =
        a.service.requestPool({std::string(ipam::kLocalAddressSpace), "198.18.40.0/24", "198.18.40.8/29", options, false});
    std::this_thread::sleep_for(ipam::kAuxAddressGap * 2);  // past the create: containers' requests by value now
    for (int i = 8; i <= 14; ++i) a.service.requestAddress({pool.poolId, "198.18.40." + std::to_string(i), {}});
    a.service.releaseAddress(pool.poolId, "198.18.40.9");
    a.service.releaseAddress(pool.poolId, "198.18.40.10");
    const auto cooling = keys("/gipam-test/pools/" + pool.poolId + "/addresses/198.18.40.9");
    ASSERT_EQ(cooling.size(), 1u);
    EXPECT_NE(cooling[0].value.find("\"cooling until\""), std::string::npos) << cooling[0].value;
    // b joins by name alone and takes the pool's delay from its record.
    EXPECT_EQ(b.service.requestPool(local("", shared("lan"))).poolId, pool.poolId);
    std::this_thread::sleep_for(ipam::kAuxAddressGap * 2);
    EXPECT_EQ(b.service.requestAddress({pool.poolId, "", {}}).address.toString(), "198.18.40.15");
    // Asked for by value, a cooling address is granted on any host.
    EXPECT_EQ(b.service.requestAddress({pool.poolId, "198.18.40.10", {}}).address.toString(), "198.18.40.10");
    // Nothing else free: the one released longest ago, counted.
    const auto cutShort = ipam::ipamMetrics().reuseDelayCutShort.load();
    EXPECT_EQ(b.service.requestAddress({pool.poolId, "", {}}).address.toString(), "198.18.40.9");
    EXPECT_EQ(ipam::ipamMetrics().reuseDelayCutShort.load(), cutShort + 1);
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "198.18.40.9", {}}); }).find("node b"),
              std::string::npos);
}

TEST_F(EtcdStoreTest, TheLastHostToReleaseASharedPoolDeletesItsKeys) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    const auto pool = a.service.requestPool(local("", shared("lan")));
    b.service.requestPool(local("", shared("lan")));
    a.service.requestAddress({pool.poolId, "", {}});
    b.service.requestAddress({pool.poolId, "", {}});
    a.service.releasePool(pool.poolId);
    EXPECT_FALSE(keys("/gipam-test/pools/").empty());
    EXPECT_EQ(keys("/gipam-test/names/").size(), 1u);
    b.service.releasePool(pool.poolId);
    EXPECT_TRUE(keys("/gipam-test/pools/").empty());
    EXPECT_TRUE(keys("/gipam-test/names/").empty());
    EXPECT_TRUE(keys("/gipam-test/blocks/").empty());
    // The name is free for a new pool, which can be another block.
    EXPECT_NO_THROW(b.service.requestPool(local("", shared("lan"))));
}

TEST_F(EtcdStoreTest, TransactionsStayWithinEtcdsLimitOf128Operations) {
    Host a(endpoints(), "a");
    // A /128 compares 127 ancestors and one range; a shared /126 adds its pool and name keys.
    EXPECT_NO_THROW(a.service.requestPool(local("2001:db8:200::1/128")));
    EXPECT_NO_THROW(a.service.requestPool(local("2001:db8:300::/126", shared("tiny"))));
    EXPECT_NE(errorOf([&] { a.service.requestPool(local("2001:db8:400::/127", shared("tinier"))); })
                  .find("/126 or larger"),
              std::string::npos);
}

TEST_F(EtcdStoreTest, StartClaimsTheLeaseFilesPoolsAndFreesClaimsNoPoolHolds) {
    store::Leases leases = kPlan;
    leases.pools.push_back({"gipam-local/198.18.9.0/24", ip::Prefix::parse("198.18.9.0/24"), {}, {}, {}, {}, {}});
    {
        Host a(endpoints(), "a", kPlan);
        a.service.requestPool(local("198.18.7.0/24"));  // then "lost": not in the lease file below
    }
    Host a(endpoints(), "a", leases);
    a.start();
    const auto blocks = keys("/gipam-test/blocks/4/");
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_NE(blocks[0].value.find("198.18.9.0/24"), std::string::npos);
    Host b(endpoints(), "b");
    EXPECT_NE(errorOf([&] { b.service.requestPool(local("198.18.9.0/24")); }).find("held by node a"), std::string::npos);
    EXPECT_NO_THROW(b.service.requestPool(local("198.18.7.0/24")));
    // A lease file whose pool another host holds stops the start, naming both.
    Host c(endpoints(), "c", leases);
    EXPECT_NE(errorOf([&] { c.start(); }).find("held by node a"), std::string::npos);
}

TEST_F(EtcdStoreTest, HostPoolsKeepWorkingWhileEtcdIsDownAndTheRestFailsFast) {
    Host a(endpoints(), "a");
    const auto pool = a.service.requestPool(local());
    const auto sharedPool = a.service.requestPool(local("", shared("lan")));
    etcd_.kill(0);
    EXPECT_NO_THROW(a.service.requestAddress({pool.poolId, "", {}}));
    EXPECT_NO_THROW(a.service.releaseAddress(pool.poolId, pool.pool.at(1).toString()));
    for (const auto& request : std::vector<std::function<void()>>{
             [&] { a.service.requestPool(local()); },
             [&] { a.service.requestAddress({sharedPool.poolId, "", {}}); }}) {
        const auto start = std::chrono::steady_clock::now();
        const auto message = errorOf(request);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
        EXPECT_NE(message.find("etcd is unreachable"), std::string::npos) << message;
        EXPECT_NE(message.find(endpoints()[0]), std::string::npos) << message;
    }
    etcd_.restart(0);
    ASSERT_TRUE(etcd_.waitHealthy());
    EXPECT_NO_THROW(a.service.requestPool(local()));
    EXPECT_NO_THROW(a.service.requestAddress({sharedPool.poolId, "", {}}));
}

TEST_F(EtcdStoreTest, AfterARestartAHostStillFreesItsAddressesInASharedPool) {
    std::string poolId;
    ip::Address held;
    store::Leases leases;
    {
        Host a(endpoints(), "a");
        poolId = a.service.requestPool(local("", shared("lan"))).poolId;
        held = a.service.requestAddress({poolId, "", {}}).address;
        leases = a.written;
    }
    Host restarted(endpoints(), "a", leases);
    restarted.service.releaseAddress(poolId, held.toString());
    EXPECT_TRUE(keys("/gipam-test/pools/" + poolId + "/addresses/").empty());
    // Another host's address it never held stays.
    Host b(endpoints(), "b");
    b.service.requestPool(local("", shared("lan")));
    const auto theirs = b.service.requestAddress({poolId, "", {}}).address;
    restarted.service.releaseAddress(poolId, theirs.toString());
    EXPECT_EQ(keys("/gipam-test/pools/" + poolId + "/addresses/").size(), 1u);
}


TEST_F(EtcdStoreTest, ASwarmNodeCopiesTheOverlayPoolAManagerHoldsInEtcd) {
    Host manager(endpoints(), "manager"), worker(endpoints(), "worker");
    const auto pool = manager.service.requestPool(global());
    const auto gateway = manager.service.requestAddress({pool.poolId, "", kGateway}).address;
    const auto task = manager.service.requestAddress({pool.poolId, "", {}}).address;
    // The worker creates the network locally with the manager's subnet and addresses.
    const auto copy = worker.service.requestPool(local(pool.pool.toString()));
    EXPECT_EQ(copy.pool, pool.pool);
    EXPECT_NE(copy.poolId, pool.poolId);
    EXPECT_EQ(worker.service.requestAddress({copy.poolId, gateway.toString(), kGateway}).address, gateway);
    EXPECT_EQ(worker.service.requestAddress({copy.poolId, task.toString(), {}}).address, task);
    // Any other overlap is still refused, and the copy's release leaves the manager's block.
    EXPECT_NE(errorOf([&] { worker.service.requestPool(local(truncatedSubnet(pool.pool))); }).find("overlaps"),
              std::string::npos);
    worker.service.releasePool(copy.poolId);
    EXPECT_EQ(keys("/gipam-test/blocks/4/").size(), 1u);
    // A worker restarting with the copy in its lease file starts.
    const auto again = worker.service.requestPool(local(pool.pool.toString()));
    Host restarted(endpoints(), "worker", worker.written);
    EXPECT_NO_THROW(restarted.start());
    worker.service.releasePool(again.poolId);
}

TEST_F(EtcdStoreTest, AManagerTakingOverAsSwarmPoolReservesItsPredecessorsAddressesAgain) {
    Host first(endpoints(), "m1");
    const auto pool = first.service.requestPool(global());
    std::set<ip::Address> held;
    for (int i = 0; i < 5; ++i) held.insert(first.service.requestAddress({pool.poolId, "", {}}).address);
    // m2 becomes the leader: swarmkit asks for the pool again by subnet, then for each address.
    Host second(endpoints(), "m2");
    EXPECT_EQ(second.service.requestPool(global(pool.pool.toString())).poolId, pool.poolId);
    for (const auto& address : held) {
        EXPECT_EQ(second.service.requestAddress({pool.poolId, address.toString(), {}}).address, address);
    }
    const auto fresh = second.service.requestAddress({pool.poolId, "", {}}).address;
    EXPECT_EQ(held.count(fresh), 0u) << fresh.toString() << " was handed out twice";
    // It frees what m1 allocated, once the task is gone.
    second.service.releaseAddress(pool.poolId, held.begin()->toString());
    EXPECT_EQ(keys("/gipam-test/pools/" + pool.poolId + "/addresses/").size(), 5u);
}

TEST_F(EtcdStoreTest, NodeRemoveFreesWhatAHostGoneForGoodHeld) {
    Host gone(endpoints(), "gone"), kept(endpoints(), "kept");
    const auto own = gone.service.requestPool(local());
    const auto lan = gone.service.requestPool(local("", shared("lan")));
    kept.service.requestPool(local("", shared("lan")));
    const auto gateway = gone.service.requestAddress({lan.poolId, "", kGateway}).address;
    gone.service.requestAddress({lan.poolId, "", {}});
    gone.service.requestAddress({lan.poolId, "", {}});
    const auto theirs = kept.service.requestAddress({lan.poolId, "", {}}).address;
    const auto solo = gone.service.requestPool(local("", shared("solo")));
    gone.service.requestAddress({solo.poolId, "", {}});
    const std::vector<std::string> remove{"node", "remove", "gone", "--etcd-endpoints", etcd_.endpointList(),
                                          "--etcd-prefix", "/gipam-test"};
    // Not while it runs.
    const auto [refused, why] = testing::runToExit(remove);
    EXPECT_EQ(refused, 2);
    EXPECT_NE(why.find("node gone is running (pid "), std::string::npos) << why;
    gone.registration.release(soon());
    const auto [status, output] = testing::runToExit(remove);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("freed in etcd for node gone: 1 block(s), 3 address(es) in shared pools, its hold of 2 shared "
                          "or swarm pool(s) (1 of them deleted: it was the last to hold them)"),
              std::string::npos)
        << output;
    // Its own block is free for others; lan stays with kept's address and the gateway held once;
    // solo, which only it held, is gone.
    EXPECT_NO_THROW(kept.service.requestPool(local(own.pool.toString())));
    std::set<std::string> held;
    for (const auto& kv : keys("/gipam-test/pools/" + lan.poolId + "/addresses/")) held.insert(kv.key.substr(kv.key.rfind('/') + 1));
    EXPECT_EQ(held, (std::set<std::string>{gateway.toString(), theirs.toString()}));
    EXPECT_TRUE(keys("/gipam-test/pools/" + solo.poolId).empty());
    EXPECT_EQ(keys("/gipam-test/names/").size(), 1u);
}

TEST_F(EtcdStoreTest, AWriteWhoseAnswerIsLostIsSettledByReadingItBack) {
    const auto etcdPort = std::stoi(endpoints()[0].substr(endpoints()[0].rfind(':') + 1));
    AnswerDroppingProxy proxy(etcdPort);
    Host a({proxy.endpoint()}, "a");
    const auto sharedPool = a.service.requestPool(local("", shared("lan")));
    // The claim reaches etcd, its answer does not: the grant stands, and the block is this
    // pool's, claimed once (not taken for another host's and claimed again elsewhere).
    proxy.dropAnswers(1);
    const auto pool = a.service.requestPool(local());
    EXPECT_EQ(proxy.dropped(), 1);
    const auto blocks = keys("/gipam-test/blocks/4/");
    ASSERT_EQ(blocks.size(), 2u);
    std::size_t claims = 0;
    for (const auto& kv : blocks) {
        const auto claim = store::decodeBlockClaim(kv.value);
        claims += claim && claim->pool == pool.poolId && claim->node == "a" && claim->scope == store::Scope::Node;
    }
    EXPECT_EQ(claims, 1u);
    // The same for an address of a shared pool.
    proxy.dropAnswers(1);
    const auto address = a.service.requestAddress({sharedPool.poolId, "", {}});
    EXPECT_EQ(proxy.dropped(), 2);
    const auto held = keys("/gipam-test/pools/" + sharedPool.poolId + "/addresses/");
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].key, "/gipam-test/pools/" + sharedPool.poolId + "/addresses/" + address.address.toString());
    EXPECT_NE(a.service.requestAddress({sharedPool.poolId, "", {}}).address, address.address);
}

// A CA with a certificate for 127.0.0.1 (the etcd member, which also uses it as a client) and one
// for gipam, and another CA with a certificate of its own: openssl, as the TLS e2e test does.
void makeCertificates(const std::filesystem::path& dir) {
    const auto d = "'" + dir.string() + "/";
    testing::writeFile(dir / "ext.cnf", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
    const std::string script = "set -e; cd " + d + "'; key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key; }; "
                         "ca() { key $1; openssl req -x509 -new -key $1.key -subj \"/CN=gipam test $1\" -days 1 -out $1.pem; }; "
                         "cert() { key $1; openssl req -new -key $1.key -subj /CN=$1 -out $1.csr; "
                         "openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 1 -extfile ext.cnf -out $1.pem; }; "
                         "ca ca; ca otherca; cert member ca; cert gipam ca; cert stranger otherca";
    ASSERT_EQ(std::system(("(" + script + ") >/dev/null 2>&1").c_str()), 0) << "openssl failed";
}

TEST(EtcdTlsTest, MutualTlsToEtcdWorksAndACertificateOfAnotherCaIsRefused) {
    if (!EtcdCluster::installed()) GTEST_SKIP() << "etcd is not installed";
    testing::TempDir certificates;
    ASSERT_NO_FATAL_FAILURE(makeCertificates(certificates.path()));
    const auto at = [&](const char* name) { return (certificates / name).string(); };
    EtcdCluster etcd(1, testing::EtcdServerTls{at("member.pem"), at("member.key"), at("ca.pem")});
    ASSERT_TRUE(etcd.waitHealthy()) << "etcd with TLS did not start";
    log::setLevel(log::Level::Error);
    const auto endpoint = etcd.endpoints()[0];
    ASSERT_EQ(endpoint.rfind("https://", 0), 0u);
    store::EtcdClient trusted({endpoint}, {at("ca.pem"), at("gipam.pem"), at("gipam.key")});
    store::SnapshotStore file(kPlan, [](const store::Leases&) {});
    store::NodeRegistration registration(trusted, store::EtcdKeys{kPrefix}, {"a", "a-1"}, "leases.json");
    store::ClusterStore cluster(file, trusted, registration, kPrefix);
    ipam::IpamService service(kPlan, cluster);
    EXPECT_NO_THROW(service.requestPool(local()));
    // Without --etcd-cacert, the system's CAs judge etcd's certificate: a private CA's is refused.
    for (const auto& tls : {store::EtcdTls{"", at("gipam.pem"), at("gipam.key")},
                            store::EtcdTls{at("ca.pem"), at("stranger.pem"), at("stranger.key")},
                            store::EtcdTls{at("ca.pem"), "", ""}, store::EtcdTls{at("otherca.pem"), at("gipam.pem"), at("gipam.key")}}) {
        store::EtcdClient refused({endpoint}, tls);
        // A refused handshake is retried until the deadline (a member may be changing its
        // certificate), so a short one: 1 s instead of 10 for each of the four.
        const auto message = errorOf(
            [&] { refused.range("/gipam-test/config", {}, std::chrono::steady_clock::now() + std::chrono::seconds(1)); });
        EXPECT_NE(message.find(endpoint), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace gipam
