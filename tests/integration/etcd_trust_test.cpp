// One address plan that nodes can trust, against a real etcd: node identity, a static --ip in a
// shared pool, writes whose outcome is unknown or slow, reconcile, and one deadline per request.
#include "integration/etcd_testing.h"

namespace gipam {
namespace {

class EtcdTrustTest : public EtcdStoreTest {
protected:
    // Every key under `prefix`, with its value: what a comparison before and after needs.
    std::map<std::string, std::string> snapshot(const std::string& prefix) {
        std::map<std::string, std::string> values;
        for (const auto& kv : keys(prefix)) values.emplace(kv.key, kv.value);
        return values;
    }
};

constexpr auto npos = std::string::npos;

TEST_F(EtcdTrustTest, ASecondGipamWithOneNodeIdIsRefusedAndFreesNothing) {
    Host a(endpoints(), "a");
    for (int i = 0; i < 5; ++i) a.service.requestPool(local());
    const auto blocks = snapshot("/gipam-test/blocks/");
    ASSERT_EQ(blocks.size(), 5u);
    // The same node ID with a fresh lease file (another instance token), while a runs.
    {
        Host twin(endpoints(), "a", kPlan, "a-2");
        EXPECT_NE(errorOf([&] { twin.start(); }).find("node ID a is held by another live gipam (instance a-1"), npos);
        EXPECT_NE(errorOf([&] { twin.service.requestPool(local()); }).find("node ID a is held by another live gipam"), npos);
    }
    EXPECT_EQ(snapshot("/gipam-test/blocks/"), blocks);
    // a stops: a fresh lease file is still not node a's.
    a.registration.release(soon());
    {
        Host late(endpoints(), "a", kPlan, "a-3");
        const auto message = errorOf([&] { late.start(); });
        EXPECT_NE(message.find("lease file leases-a.json belongs to another instance of node a: etcd records instance a-1"), npos)
            << message;
        EXPECT_NE(message.find("gipam node remove a"), npos) << message;
    }
    // etcd holds a's claims but no record of its instance (a gipam 0.1 wrote them): the same.
    store::EtcdClient client(endpoints());
    client.txn({}, {store::remove("/gipam-test/nodes/a")}, {}, soon());
    {
        Host fresh(endpoints(), "a", kPlan, "a-4");
        const auto message = errorOf([&] { fresh.start(); });
        EXPECT_NE(message.find("etcd holds 5 claim(s) of node a that lease file leases-a.json does not know"), npos)
            << message;
        EXPECT_NE(message.find("--node-id"), npos) << message;
    }
    EXPECT_EQ(snapshot("/gipam-test/blocks/"), blocks);
    // Its own lease file lets node a in again, keeping every claim.
    Host back(endpoints(), "a", a.written);
    EXPECT_NO_THROW(back.start());
    EXPECT_EQ(snapshot("/gipam-test/blocks/"), blocks);
}

TEST_F(EtcdTrustTest, AGipamRestartedAfterACrashTakesItsNodeBackAndItsClaimsOutliveItsLiveness) {
    store::Leases leases;
    {
        Host a(endpoints(), "a");
        a.service.requestPool(local("198.18.4.0/24"));
        leases = a.written;
        a.crash();  // its liveness key stays until its etcd lease (2 s here) runs out
    }
    // etcd revokes an expired lease through raft: under load that comes seconds after the 2 s.
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (!keys("/gipam-test/nodes/a/alive").empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(keys("/gipam-test/nodes/a/alive").empty());
    EXPECT_EQ(keys("/gipam-test/blocks/").size(), 1u) << "a node's claims went with its liveness key";
    Host b(endpoints(), "b");
    EXPECT_NE(errorOf([&] { b.service.requestPool(local("198.18.4.0/24")); }).find("held by node a"), npos);
    Host restarted(endpoints(), "a", leases);
    EXPECT_NO_THROW(restarted.start());
    EXPECT_EQ(keys("/gipam-test/nodes/a/alive").size(), 1u);
}

TEST_F(EtcdTrustTest, AStaticIpInASharedPoolIsOneContainersOnEveryNodeBeforeAndAfterARestart) {
    auto a = std::make_unique<Host>(endpoints(), "a");
    Host b(endpoints(), "b");
    const auto pool = a->service.requestPool(local("", shared("lan")));
    a->service.requestAddress({pool.poolId, "", kGateway});
    const auto aux = pool.pool.at(200).toString();
    EXPECT_EQ(a->service.requestAddress({pool.poolId, aux, {}}).address.toString(), aux);  // --aux-address
    b.service.requestPool(local("", shared("lan")));
    b.service.requestAddress({pool.poolId, "", kGateway});
    EXPECT_EQ(b.service.requestAddress({pool.poolId, aux, {}}).address.toString(), aux);  // the same network's
    // Containers start after their network's create: an address asked for by value is theirs.
    std::this_thread::sleep_for(ipam::kAuxAddressGap * 3);
    const auto ip = pool.pool.at(10).toString();
    EXPECT_EQ(a->service.requestAddress({pool.poolId, ip, {}}).address.toString(), ip);
    EXPECT_NE(errorOf([&] { b.service.requestAddress({pool.poolId, ip, {}}); }).find("is held by node a"), npos);
    EXPECT_NE(errorOf([&] { a->service.requestAddress({pool.poolId, ip, {}}); }).find("is held by node a"), npos);
    EXPECT_NE(errorOf([&] { a->service.requestAddress({pool.poolId, aux, {}}); }).find("aux address"), npos);
    // After a restart of a, the same.
    const auto leases = a->written;
    a.reset();
    Host restarted(endpoints(), "a", leases);
    for (auto* node : {&restarted, &b}) {
        EXPECT_NE(errorOf([&] { node->service.requestAddress({pool.poolId, ip, {}}); }), "") << "twice: " << ip;
        EXPECT_NE(errorOf([&] { node->service.requestAddress({pool.poolId, aux, {}}); }), "") << "an aux address";
    }
    // Docker 29 names the endpoint: a container's address even right after the pool's create.
    Host c(endpoints(), "c");
    c.service.requestPool(local("", shared("lan")));
    const auto named = pool.pool.at(11).toString();
    const ipam::Options endpoint{{std::string(ipam::kEndpointNameOption), "web-1"}};
    EXPECT_EQ(c.service.requestAddress({pool.poolId, named, endpoint}).address.toString(), named);
    const auto why = errorOf([&] { b.service.requestAddress({pool.poolId, named, {}}); });
    EXPECT_NE(why.find("is held by node c for web-1"), npos) << why;
    // Released, it is free for the next container, on any node.
    restarted.service.releaseAddress(pool.poolId, ip);
    EXPECT_EQ(b.service.requestAddress({pool.poolId, ip, {}}).address.toString(), ip);
}

TEST_F(EtcdTrustTest, ASlowWriteIsSettledAsAppliedNotTakenForAConflictWithItself) {
    const auto etcdPort = std::stoi(endpoints()[0].substr(endpoints()[0].rfind(':') + 1));
    AnswerDroppingProxy proxy(etcdPort);
    Host a({proxy.endpoint()}, "a");
    const auto lan = a.service.requestPool(local("", shared("lan")));
    // etcd applies the reserve after the read-back found nothing and before the resend.
    proxy.holdNextRequest();
    const auto grant = a.service.requestAddress({lan.poolId, "", {}});
    EXPECT_TRUE(proxy.heldAndApplied());
    const auto held = keys("/gipam-test/pools/" + lan.poolId + "/addresses/");
    ASSERT_EQ(held.size(), 1u) << "a key leaked";
    EXPECT_EQ(held[0].key, "/gipam-test/pools/" + lan.poolId + "/addresses/" + grant.address.toString());
    // The same for a block claim.
    proxy.holdNextRequest();
    const auto pool = a.service.requestPool(local());
    EXPECT_TRUE(proxy.heldAndApplied());
    std::size_t claims = 0;
    for (const auto& kv : keys("/gipam-test/blocks/4/")) claims += kv.value.find("\"node\"") != npos;
    EXPECT_EQ(claims, 2u) << "a block leaked";
    EXPECT_NE(keys("/gipam-test/blocks/4/").back().value.find(pool.poolId), npos);
}

TEST_F(EtcdTrustTest, AWriteLeftUnknownIsFreedByReconcile) {
    const auto etcdPort = std::stoi(endpoints()[0].substr(endpoints()[0].rfind(':') + 1));
    AnswerDroppingProxy proxy(etcdPort);
    Host a({proxy.endpoint()}, "a");
    const auto lan = a.service.requestPool(local("", shared("lan")));
    const auto first = a.service.requestAddress({lan.poolId, "", {}});  // the pool is read once, at its first pick
    // The reserve is applied, and neither its answer nor any read-back reaches gipam in time.
    proxy.dropAnswers(1000);
    const auto why = errorOf([&] { a.service.requestAddress({lan.poolId, "", {}}); });
    EXPECT_NE(why.find("reading it back failed"), npos) << why;
    proxy.dropAnswers(0);
    ASSERT_EQ(keys("/gipam-test/pools/" + lan.poolId + "/addresses/").size(), 2u);
    EXPECT_EQ(a.cluster.reconcile(false, soon()).freed, 1u);
    const auto held = keys("/gipam-test/pools/" + lan.poolId + "/addresses/");
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].key, "/gipam-test/pools/" + lan.poolId + "/addresses/" + first.address.toString());
}

TEST_F(EtcdTrustTest, ARequestIsAnsweredWithinThreeSecondsWhileEtcdIsSilentAndNodePoolsDoNotWait) {
    Host a(endpoints(), "a");
    const auto pool = a.service.requestPool(local());
    const auto lan = a.service.requestPool(local("", shared("lan")));
    etcd_.pause(0);
    for (const auto& request : std::vector<std::function<void()>>{
             [&] { a.service.requestPool(local()); }, [&] { a.service.requestAddress({lan.poolId, "", {}}); },
             [&] { a.service.releasePool(lan.poolId); }}) {
        const auto start = std::chrono::steady_clock::now();
        errorOf(request);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    }
    const auto start = std::chrono::steady_clock::now();
    EXPECT_NO_THROW(a.service.requestAddress({pool.poolId, "", {}}));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
    etcd_.resume(0);
}

TEST_F(EtcdTrustTest, AStartWhileEtcdIsDownReconcilesOnceEtcdAnswers) {
    store::Leases leases = kPlan;
    leases.pools.push_back({"gipam-local/198.18.9.0/24", ip::Prefix::parse("198.18.9.0/24"), {}, {}, {}, {}, {}});
    etcd_.kill(0);
    Host a(endpoints(), "a", leases);
    EXPECT_THROW(a.start(), store::EtcdUnavailable);
    const store::ClusterKeeper keeper(a.cluster, a.registration, 60s, false);
    etcd_.restart(0);
    ASSERT_TRUE(etcd_.waitHealthy());
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (keys("/gipam-test/blocks/4/").empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(keys("/gipam-test/blocks/4/").size(), 1u) << "the lease file's pool was never claimed";
    Host b(endpoints(), "b");
    EXPECT_NE(errorOf([&] { b.service.requestPool(local("198.18.9.0/24")); }).find("held by node a"), npos);
}

TEST_F(EtcdTrustTest, ASwarmPoolAndItsCopyKeepTheirBlockClaimedWhicheverGoesFirst) {
    for (const bool swarmFirst : {true, false}) {
        Host manager(endpoints(), "m"), other(endpoints(), "o");
        const auto pool = manager.service.requestPool(global());
        const auto copy = manager.service.requestPool(local(pool.pool.toString()));
        const auto inside = truncatedSubnet(pool.pool);
        EXPECT_EQ(manager.cluster.reconcile(true, soon()).freed, 0u);
        manager.service.releasePool(swarmFirst ? pool.poolId : copy.poolId);
        EXPECT_NE(errorOf([&] { other.service.requestPool(local(inside)); }).find("overlaps"), npos)
            << (swarmFirst ? "the swarm pool" : "the copy") << " went first and left the other's block unclaimed";
        EXPECT_EQ(manager.cluster.reconcile(true, soon()).freed, 0u);
        EXPECT_NE(errorOf([&] { other.service.requestPool(local(inside)); }).find("overlaps"), npos);
        manager.service.releasePool(swarmFirst ? copy.poolId : pool.poolId);
        EXPECT_TRUE(keys("/gipam-test/blocks/").empty());
        EXPECT_TRUE(keys("/gipam-test/pools/").empty());
    }
}

TEST_F(EtcdTrustTest, ReconcileNeverFreesAClaimThatAPoolsCopyUses) {
    Host a(endpoints(), "a"), other(endpoints(), "o");
    const auto pool = a.service.requestPool(local("198.18.30.0/24"));
    // A swarm network on the same subnet (a manager asked for it in gipam-global): a copy.
    const auto copy = a.service.requestPool(global("198.18.30.0/24"));
    const auto claims = keys("/gipam-test/blocks/");
    ASSERT_EQ(claims.size(), 1u);
    EXPECT_EQ(a.cluster.reconcile(true, soon()).freed, 0u);
    a.service.releasePool(pool.poolId);
    EXPECT_EQ(keys("/gipam-test/blocks/").size(), 1u) << "the copy's block went with the pool";
    EXPECT_NE(errorOf([&] { other.service.requestPool(local("198.18.30.0/25")); }).find("overlaps"), npos);
    EXPECT_EQ(a.cluster.reconcile(true, soon()).freed, 0u);
    EXPECT_EQ(keys("/gipam-test/blocks/").size(), 1u);
    a.service.releasePool(copy.poolId);
    EXPECT_TRUE(keys("/gipam-test/blocks/").empty());
}

TEST_F(EtcdTrustTest, ALeaseFileOnTopOfAnotherNodesSharedPoolStopsTheStart) {
    Host a(endpoints(), "a");
    const auto lan = a.service.requestPool(local("", shared("lan")));
    store::Leases leases = kPlan;
    leases.pools.push_back({"gipam-local/" + lan.pool.toString(), lan.pool, {}, {}, {}, {}, {}});
    Host c(endpoints(), "c", leases);
    EXPECT_NE(errorOf([&] { c.start(); }).find("held by node a"), npos);
}

TEST_F(EtcdTrustTest, ASharedPoolOfTheLeaseFileIsRegisteredInEtcdAtStart) {
    // A lease file that served without etcd: a shared pool with its gateway and a container.
    store::Leases leases = kPlan;
    const auto prefix = ip::Prefix::parse("198.18.20.0/24");
    leases.pools.push_back({"gipam-local/198.18.20.0/24", prefix, {}, {{std::string(ipam::kNetworkOption), "lan"}}, {},
                            {{prefix.at(1), prefix.at(1)}, {prefix.at(5), prefix.at(5)}}, {}});
    Host a(endpoints(), "a", leases);
    const auto result = a.start();
    EXPECT_GE(result.registered, 1u);
    EXPECT_EQ(keys("/gipam-test/names/lan").size(), 1u);
    EXPECT_EQ(keys("/gipam-test/pools/gipam-local/198.18.20.0/24/holders/a").size(), 1u);
    Host b(endpoints(), "b");
    EXPECT_EQ(b.service.requestPool(local("", shared("lan"))).pool, prefix);
    EXPECT_NE(errorOf([&] { b.service.requestAddress({"gipam-local/198.18.20.0/24", prefix.at(5).toString(), {}}); }),
              "");
}

TEST_F(EtcdTrustTest, LeaksInEtcdAreFoundAndFreedOnlyAsSeen) {
    Host a(endpoints(), "a"), b(endpoints(), "b");
    const auto lan = a.service.requestPool(local("", shared("lan")));
    b.service.requestPool(local("", shared("lan")));
    // a's containers died with Docker's view of them (Leak B); then its network went.
    a.service.requestAddress({lan.poolId, "", {}});
    a.service.requestAddress({lan.poolId, "", {}});
    const auto theirs = b.service.requestAddress({lan.poolId, "", {}}).address;
    a.service.releasePool(lan.poolId);
    // And a claim a crash left between etcd and the lease file.
    store::EtcdClient client(endpoints());
    client.txn({}, {store::put("/gipam-test/blocks/4/c6127f00/24",
                               store::encodeBlockClaim({"gipam-local/198.18.127.0/24", "a", store::Scope::Node, "n"}))},
               {}, soon());
    const auto observed = a.service.observe();
    ASSERT_EQ(observed.storeLeaks.size(), 3u);
    EXPECT_TRUE(b.service.observe().storeLeaks.empty()) << "b's address is b's";
    // What changed since it was seen is kept.
    auto stale = observed.storeLeaks.front();
    stale.version -= 1;
    EXPECT_FALSE(a.service.releaseStoreLeak(stale));
    for (const auto& leak : observed.storeLeaks) EXPECT_TRUE(a.service.releaseStoreLeak(leak)) << leak.what;
    EXPECT_TRUE(a.service.observe().storeLeaks.empty());
    const auto held = keys("/gipam-test/pools/" + lan.poolId + "/addresses/");
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].key, "/gipam-test/pools/" + lan.poolId + "/addresses/" + theirs.toString());
    EXPECT_TRUE(keys("/gipam-test/blocks/4/c6127f00/").empty());
}

TEST_F(EtcdTrustTest, NodeRemoveRefusesSwarmTheEmptyIdAndAnUnknownNode) {
    Host a(endpoints(), "a");
    a.service.requestPool(global());
    const auto remove = [&](const std::string& node) {
        return testing::runToExit({"node", "remove", node, "--etcd-endpoints", etcd_.endpointList(), "--etcd-prefix",
                                   "/gipam-test"});
    };
    const auto [swarmStatus, swarm] = remove("swarm");
    EXPECT_EQ(swarmStatus, 2);
    EXPECT_NE(swarm.find("\"swarm\" is not a node"), npos) << swarm;
    const auto [emptyStatus, empty] = remove("");
    EXPECT_EQ(emptyStatus, 2);
    EXPECT_NE(empty.find("needs a node ID"), npos) << empty;
    const auto [unknownStatus, unknown] = remove("nobody");
    EXPECT_EQ(unknownStatus, 2);
    EXPECT_NE(unknown.find("etcd knows no node nobody under /gipam-test (registered nodes: a)"), npos) << unknown;
    EXPECT_EQ(keys("/gipam-test/pools/").size(), 2u);  // the pool and a's hold: nothing freed
}

}  // namespace
}  // namespace gipam
