// reconcile::compare: the leases against Docker's view, by subnet and ip-range.
#include "reconcile/findings.h"

#include <gtest/gtest.h>

#include "ipam/service_testing.h"

namespace gipam::reconcile {
namespace {

using ipam::testing::address;
using ipam::testing::prefix;

store::PoolRecord pool(std::string id, std::string_view cidr, std::vector<store::AddressRun> runs) {
    return {std::move(id), prefix(cidr), std::nullopt, {}, std::nullopt, std::move(runs)};
}

TEST(FindingsTest, LeaksMissingAndForeign) {
    store::Leases leases;
    leases.pools = {
        pool("gipam-local/198.18.0.0/24", "198.18.0.0/24", {{address("198.18.0.1"), address("198.18.0.4")}}),
        pool("gipam-local/198.18.1.0/24", "198.18.1.0/24", {{address("198.18.1.1"), address("198.18.1.1")}}),
        pool("hGk2J0aZbNq7Xw1e", "198.18.2.0/24", {}),
    };
    std::vector<DockerPool> docker = {
        {"live", false, prefix("198.18.0.0/24"), std::nullopt,
         {{address("198.18.0.1"), "gateway"}, {address("198.18.0.3"), "container web"},
          {address("198.18.0.9"), "container db"}}, true},
        {"migrated", false, prefix("198.18.2.0/24"), std::nullopt, {}, true},
        {"lost", false, prefix("198.18.9.0/24"), std::nullopt, {{address("198.18.9.1"), "gateway"}}, true},
    };
    const auto findings = compare(leases, docker);
    ASSERT_EQ(findings.leakedPools.size(), 1u);
    EXPECT_EQ(findings.leakedPools[0].poolId, "gipam-local/198.18.1.0/24");
    ASSERT_EQ(findings.leakedAddresses.size(), 2u);
    EXPECT_EQ(findings.leakedAddresses[0].address, address("198.18.0.2"));
    EXPECT_EQ(findings.leakedAddresses[1].address, address("198.18.0.4"));
    ASSERT_EQ(findings.missingAddresses.size(), 1u);
    EXPECT_EQ(findings.missingAddresses[0].address, address("198.18.0.9"));
    EXPECT_EQ(findings.missingAddresses[0].poolId, "gipam-local/198.18.0.0/24");
    ASSERT_EQ(findings.missingPools.size(), 1u);
    EXPECT_EQ(findings.missingPools[0].subnet, prefix("198.18.9.0/24"));
    EXPECT_EQ(findings.foreign, std::vector<std::string>{"hGk2J0aZbNq7Xw1e"});
    EXPECT_FALSE(findings.empty());
}

TEST(FindingsTest, AGatewayDockerDoesNotShowIsNotLeaked) {
    // --subnet without --gateway: Docker shows no gateway, but the bridge has the first host.
    store::Leases leases;
    leases.pools = {pool("gipam-local/198.18.70.0/24", "198.18.70.0/24", {{address("198.18.70.1"), address("198.18.70.1")}})};
    DockerPool network{"netE", false, prefix("198.18.70.0/24"), std::nullopt, {}};
    EXPECT_TRUE(compare(leases, {network}).empty());
    network.gatewayShown = true;  // shown elsewhere: .1 is then an address like any other
    network.addresses = {{address("198.18.70.254"), "gateway"}};
    EXPECT_EQ(compare(leases, {network}).leakedAddresses.size(), 1u);
}

TEST(FindingsTest, IpRangeIsPartOfTheMatch) {
    store::Leases leases;
    leases.pools = {pool("gipam-local/198.18.0.0/24/198.18.0.128/25", "198.18.0.0/24", {})};
    leases.pools[0].subPool = prefix("198.18.0.128/25");
    const std::vector<DockerPool> same = {{"n", false, prefix("198.18.0.0/24"), prefix("198.18.0.128/25"), {}}};
    EXPECT_TRUE(compare(leases, same).empty());
    const std::vector<DockerPool> without = {{"n", false, prefix("198.18.0.0/24"), std::nullopt, {}}};
    const auto findings = compare(leases, without);
    EXPECT_EQ(findings.leakedPools.size(), 1u);
    EXPECT_EQ(findings.missingPools.size(), 1u);
}

TEST(FindingsTest, SwarmAddressesAreNotJudgedButItsPoolsAre) {
    store::Leases leases;
    leases.pools = {
        pool("gipam-global/198.18.0.0/24", "198.18.0.0/24", {{address("198.18.0.1"), address("198.18.0.9")}}),
        pool("gipam-local/198.18.0.0/24", "198.18.0.0/24", {{address("198.18.0.1"), address("198.18.0.3")}}),
    };
    // This node's Docker shows only its own tasks.
    const std::vector<DockerPool> docker = {
        {"ov1", true, prefix("198.18.0.0/24"), std::nullopt, {{address("198.18.0.1"), "gateway"}}}};
    EXPECT_TRUE(compare(leases, docker).empty());
    EXPECT_EQ(compare(leases, {}).leakedPools.size(), 2u);
}

TEST(FindingsTest, ASharedPoolIsJudgedByPoolOnly) {
    // etcd keeps its addresses for every host; the lease file holds none of them.
    store::Leases leases;
    leases.pools = {pool("gipam-local/198.18.3.0/24", "198.18.3.0/24", {})};
    leases.pools[0].options = {{std::string(ipam::kNetworkOption), "lan"}};
    const std::vector<DockerPool> docker = {
        {"lan", false, prefix("198.18.3.0/24"), std::nullopt, {{address("198.18.3.7"), "container web"}}, true}};
    EXPECT_TRUE(compare(leases, docker).empty());
    EXPECT_EQ(compare(leases, {}).leakedPools.size(), 1u);
}

}  // namespace
}  // namespace gipam::reconcile
