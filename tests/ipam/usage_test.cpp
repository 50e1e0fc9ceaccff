// What `gipam leases` and /metrics report of the leases: blocks and addresses per supernet.
#include "ipam/usage.h"

#include <gtest/gtest.h>

namespace gipam::ipam {
namespace {

TEST(UsageTest, CountsBlocksAndAddressesOfTheSupernet) {
    store::Leases leases{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};
    leases.pools.push_back({"a", ip::Prefix::parse("198.18.0.0/24"), std::nullopt, {}, std::nullopt,
                            {{ip::Address::parse("198.18.0.1"), ip::Address::parse("198.18.0.4")}}});
    leases.pools.push_back({"b", ip::Prefix::parse("198.18.1.0/26"), std::nullopt, {}, std::nullopt, {}});
    leases.pools.push_back({"outside", ip::Prefix::parse("198.19.0.0/24"), std::nullopt, {}, std::nullopt,
                            {{ip::Address::parse("198.19.0.1"), ip::Address::parse("198.19.0.1")}}});
    const auto usage = usageOf(leases);
    ASSERT_EQ(usage.supernets.size(), 1u);
    EXPECT_EQ(usage.supernets[0].blocks, 256u);
    EXPECT_DOUBLE_EQ(usage.supernets[0].blocksHeld, 1.25);
    EXPECT_EQ(usage.supernets[0].pools, 2u);
    EXPECT_EQ(usage.supernets[0].addressesHeld, 4u);
    EXPECT_EQ(usage.pools[0].usable, 254u);
    EXPECT_EQ(usage.pools[1].usable, 62u);
}

}  // namespace
}  // namespace gipam::ipam
