// The sharing rules of the IPAM service, on a fake store several nodes share: what an address in
// a shared pool is held for, how conflicts are retried and learnt from, when a pool is read
// again, and what a failed or slow write leaves.
#include <gtest/gtest.h>

#include <thread>

#include "ipam/service.h"
#include "log/log.h"
#include "support/fake_cluster.h"

namespace gipam::ipam {
namespace {

using namespace std::chrono_literals;
using testing::Fault;

const store::Leases kPlan{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};
const Options kGateway{{std::string(kRequestAddressType), std::string(kGatewayType)}};

// One node: its store on the cluster and its IPAM service.
struct Node {
    Node(testing::FakeCluster& cluster, const std::string& id, const store::Leases& leases = kPlan)
        : store(cluster, id, leases), service(leases, store) {}
    testing::FakeNodeStore store;
    IpamService service;
};

PoolRequest sharedPool(const std::string& name, std::string subnet = "") {
    return {std::string(kLocalAddressSpace), std::move(subnet), "", {{std::string(kNetworkOption), name}}, false};
}

std::string errorOf(const std::function<void()>& action) {
    try {
        action();
    } catch (const std::exception& error) {
        return error.what();
    }
    return {};
}

class SharingTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }
    // Past the network's create: what comes by value now is a container's.
    static void afterCreate() { std::this_thread::sleep_for(kAuxAddressGap * 2); }
    testing::FakeCluster cluster_;
};

TEST_F(SharingTest, TheGatewayAndAuxAddressesAreHeldOnceForEveryNode) {
    Node a(cluster_, "a"), b(cluster_, "b");
    const auto pool = a.service.requestPool(sharedPool("lan"));
    const auto gateway = a.service.requestAddress({pool.poolId, "", kGateway}).address;
    EXPECT_EQ(a.service.requestAddress({pool.poolId, "198.18.0.200", {}}).address.toString(), "198.18.0.200");
    EXPECT_EQ(b.service.requestPool(sharedPool("lan")).poolId, pool.poolId);
    EXPECT_EQ(b.service.requestAddress({pool.poolId, "", kGateway}).address, gateway);
    EXPECT_EQ(b.service.requestAddress({pool.poolId, "198.18.0.200", {}}).address.toString(), "198.18.0.200");
    // Released by one node, a shared address stays for the others.
    a.service.releaseAddress(pool.poolId, "198.18.0.200");
    afterCreate();
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "198.18.0.200", {}}); }).find("aux address"),
              std::string::npos);
}

TEST_F(SharingTest, ASharedPoolsExclusionsHoldOnEveryNodeFromItsRecord) {
    Node a(cluster_, "a"), b(cluster_, "b");
    auto request = sharedPool("lan", "198.18.30.0/24");
    request.options[std::string(kExcludeOption)] = "198.18.30.0/25";
    const auto pool = a.service.requestPool(request);
    // b's request names no exclusion: the pool's record, as a created it, does.
    EXPECT_EQ(b.service.requestPool(sharedPool("lan", "198.18.30.0/24")).poolId, pool.poolId);
    afterCreate();
    const auto address = b.service.requestAddress({pool.poolId, "", {}}).address;
    EXPECT_GE(address, ip::Address::parse("198.18.30.128")) << address.toString();
    EXPECT_NE(errorOf([&] { b.service.requestAddress({pool.poolId, "198.18.30.20", {}}); }).find("is excluded"),
              std::string::npos);
}

TEST_F(SharingTest, AContainersAddressIsItsAloneWhateverTheOrderOfRequests) {
    Node a(cluster_, "a"), b(cluster_, "b");
    const auto pool = a.service.requestPool(sharedPool("lan"));
    b.service.requestPool(sharedPool("lan"));
    afterCreate();
    // No dynamic grant first: an --ip right away is still a container's.
    EXPECT_NO_THROW(a.service.requestAddress({pool.poolId, "198.18.0.10", {}}));
    EXPECT_NE(errorOf([&] { b.service.requestAddress({pool.poolId, "198.18.0.10", {}}); }).find("held by node a"),
              std::string::npos);
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "198.18.0.10", {}}); }).find("held by node a"),
              std::string::npos);
    // Docker 29's endpoint name makes it a container's even inside the create's window.
    Node c(cluster_, "c");
    c.service.requestPool(sharedPool("lan"));
    const Options named{{std::string(kEndpointNameOption), "web-1"}};
    EXPECT_NO_THROW(c.service.requestAddress({pool.poolId, "198.18.0.11", named}));
    EXPECT_NE(errorOf([&] { b.service.requestAddress({pool.poolId, "198.18.0.11", {}}); }), "");
}

TEST_F(SharingTest, AnAuxAddressRequestedByOneNodeNeverTakesAnotherNodesContainer) {
    Node a(cluster_, "a"), b(cluster_, "b");
    const auto pool = a.service.requestPool(sharedPool("lan"));
    afterCreate();
    a.service.requestAddress({pool.poolId, "198.18.0.20", {}});
    // b creates its copy of the network naming that address as an aux address: refused.
    b.service.requestPool(sharedPool("lan"));
    EXPECT_NE(errorOf([&] { b.service.requestAddress({pool.poolId, "198.18.0.20", {}}); }).find("held by node a"),
              std::string::npos);
}

TEST_F(SharingTest, ADynamicRequestLearnsFromConflictsAndGivesUpAfterEight) {
    Node a(cluster_, "a");
    const auto pool = a.service.requestPool(sharedPool("lan"));
    for (int i = 0; i < kConflictAttempts - 1; ++i) a.store.script(Fault::Conflict);
    EXPECT_NO_THROW(a.service.requestAddress({pool.poolId, "", {}}));
    for (int i = 0; i < kConflictAttempts; ++i) a.store.script(Fault::Conflict);
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "", {}}); }).find("gave up after 8 conflicts"),
              std::string::npos);
}

TEST_F(SharingTest, ARequestThatFailsInTheStoreLeavesNothingHeldHere) {
    Node a(cluster_, "a");
    const auto pool = a.service.requestPool(sharedPool("lan", "198.18.9.0/30"));  // two addresses
    afterCreate();
    a.store.script(Fault::NotAppliedUnknown);
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "198.18.9.1", {}}); }), "");
    EXPECT_NO_THROW(a.service.requestAddress({pool.poolId, "198.18.9.1", {}})) << "the failed request kept it here";
}

TEST_F(SharingTest, AddressesAnotherNodeReleasedAreFoundAgainWhenThePoolLooksFull) {
    Node a(cluster_, "a"), b(cluster_, "b");
    const auto pool = a.service.requestPool(sharedPool("lan", "198.18.9.0/30"));
    b.service.requestPool(sharedPool("lan", "198.18.9.0/30"));
    const auto taken = b.service.requestAddress({pool.poolId, "", {}}).address;
    a.service.requestAddress({pool.poolId, "", {}});
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "", {}}); }).find("no free"), std::string::npos);
    b.service.releaseAddress(pool.poolId, taken.toString());
    EXPECT_EQ(a.service.requestAddress({pool.poolId, "", {}}).address, taken);
}

TEST_F(SharingTest, RetriesStopAtTheRequestsDeadline) {
    Node a(cluster_, "a");
    const auto pool = a.service.requestPool(sharedPool("lan"));
    a.store.slowFor = 400ms;
    for (int i = 0; i < kConflictAttempts; ++i) a.store.script(Fault::SlowConflict);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_NE(errorOf([&] { a.service.requestAddress({pool.poolId, "", {}}); }), "");
    // 8 tries of 400 ms would take 3.2 s: the deadline (2.8 s) ends them first.
    EXPECT_LT(std::chrono::steady_clock::now() - start, kStoreBudget + 450ms);
}

TEST_F(SharingTest, ANodePoolsBlockIsRefusedToOtherNodesAndASubnetAskedForIsThatOrNothing) {
    Node a(cluster_, "a"), b(cluster_, "b");
    const auto pool = a.service.requestPool({std::string(kLocalAddressSpace), "", "", {}, false});
    const auto other = b.service.requestPool({std::string(kLocalAddressSpace), "", "", {}, false});
    EXPECT_FALSE(other.pool.overlaps(pool.pool));
    EXPECT_NE(errorOf([&] { b.service.requestPool({std::string(kLocalAddressSpace), pool.pool.toString(), "", {}, false}); })
                  .find("held by node a"),
              std::string::npos);
}

}  // namespace
}  // namespace gipam::ipam
