// PoolTable: the held pools, their overlap index and the blocks carved out of the supernets.
#include "ipam/pool_table.h"

#include <gtest/gtest.h>

namespace gipam::ipam {
namespace {

using Order = alloc::AddressAllocator::Order;

ip::Prefix prefix(std::string_view text) { return ip::Prefix::parse(text); }
ip::Address address(std::string_view text) { return ip::Address::parse(text); }

Pool pool(std::string id, std::string_view subnet, Order order = Order::LowestFirst) {
    return Pool{std::move(id), alloc::AddressAllocator(prefix(subnet), std::nullopt, order), {}, {}, {}, {}};
}

class PoolTableTest : public ::testing::Test {
protected:
    PoolTable table_{store::Supernet{prefix("198.18.0.0/16"), 24}, store::Supernet{prefix("2001:db8:100::/56"), 64}};
};

TEST_F(PoolTableTest, AHeldPoolIsFoundOverlappingWhatContainsItLiesInsideItOrEqualsIt) {
    table_.insert(pool("a", "198.18.4.0/24"));
    for (const auto* text : {"198.18.4.0/24", "198.18.4.128/25", "198.18.0.0/16", "198.18.4.7/32"}) {
        const auto* found = table_.overlapping(prefix(text));
        ASSERT_NE(found, nullptr) << text;
        EXPECT_EQ(found->id, "a") << text;
    }
    for (const auto* text : {"198.18.3.0/24", "198.18.5.0/24", "2001:db8:100::/64"}) {
        EXPECT_EQ(table_.overlapping(prefix(text)), nullptr) << text;
    }
}

TEST_F(PoolTableTest, InsertCarvesTheBlockOutOfTheSupernetAndEraseGivesItBack) {
    table_.insert(pool("a", "198.18.0.0/24"));
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.1.0/24"));
    table_.erase("a");
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.0.0/24"));
    EXPECT_EQ(table_.find("a"), nullptr);
}

TEST_F(PoolTableTest, APoolOutsideTheSupernetsTakesNoBlock) {
    table_.insert(pool("outside", "198.19.0.0/24"));
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.0.0/24"));
    EXPECT_NE(table_.overlapping(prefix("198.19.0.0/16")), nullptr);
}

TEST_F(PoolTableTest, ASwarmPoolsCopySharesItsBlockAndKeepsItWhenTheSwarmPoolGoesFirst) {
    table_.insert(pool("gipam-global/198.18.0.0/24", "198.18.0.0/24"));
    auto copy = pool("gipam-local/198.18.0.0/24", "198.18.0.0/24");
    copy.copyOf = "gipam-global/198.18.0.0/24";
    table_.insert(std::move(copy));
    EXPECT_EQ(table_.find("gipam-global/198.18.0.0/24")->copy, "gipam-local/198.18.0.0/24");

    table_.erase("gipam-global/198.18.0.0/24");
    const auto* left = table_.overlapping(prefix("198.18.0.0/24"));
    ASSERT_NE(left, nullptr);
    EXPECT_EQ(left->id, "gipam-local/198.18.0.0/24");
    EXPECT_TRUE(left->copyOf.empty());
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.1.0/24"));  // still held

    table_.erase("gipam-local/198.18.0.0/24");
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.0.0/24"));
}

TEST_F(PoolTableTest, BlocksHeldElsewhereAreSkippedUntilForgottenAndGoToAPoolInsertedOverThem) {
    table_.holdElsewhere(prefix("198.18.0.0/24"));
    table_.holdElsewhere(prefix("198.18.1.0/24"));
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.2.0/24"));
    table_.insert(pool("mine", "198.18.1.0/24"));  // e.g. the other node let it go, and it is ours now
    EXPECT_TRUE(table_.forgetHeldElsewhere());
    EXPECT_FALSE(table_.forgetHeldElsewhere());
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.0.0/24"));
    EXPECT_EQ(table_.blocksFor(ip::Family::V4)->allocate(24), prefix("198.18.3.0/24"));  // 1 is mine, 2 taken above
}

TEST_F(PoolTableTest, TheRecordHoldsTheAddressesAsRunsAndARoundRobinPoolsCursor) {
    auto serial = pool("s", "198.18.0.0/24", Order::RoundRobin);
    serial.addresses.reserve(address("198.18.0.1"));
    serial.addresses.reserve(address("198.18.0.2"));
    serial.addresses.reserve(address("198.18.0.9"));
    ASSERT_TRUE(serial.addresses.allocate());  // 198.18.0.3: the cursor moves past it
    table_.insert(std::move(serial));
    table_.insert(pool("plain", "198.18.1.0/24"));
    table_.find("plain")->addresses.reserve(address("198.18.1.5"));

    const auto leases = table_.leases();
    ASSERT_EQ(leases.pools.size(), 2u);
    const auto& plain = leases.pools[0];
    const auto& s = leases.pools[1];
    EXPECT_EQ(plain.id, "plain");
    EXPECT_EQ(plain.cursor, std::nullopt);
    ASSERT_EQ(plain.addresses.size(), 1u);
    EXPECT_EQ(plain.addresses[0].first, address("198.18.1.5"));
    EXPECT_EQ(s.prefix, prefix("198.18.0.0/24"));
    ASSERT_EQ(s.addresses.size(), 2u);
    EXPECT_EQ(s.addresses[0].first, address("198.18.0.1"));
    EXPECT_EQ(s.addresses[0].last, address("198.18.0.3"));
    EXPECT_EQ(s.addresses[1].first, address("198.18.0.9"));
    EXPECT_EQ(s.cursor, address("198.18.0.4"));
    EXPECT_EQ(leases.v4, (store::Supernet{prefix("198.18.0.0/16"), 24}));
}

TEST(PoolIdTest, ASpaceIsTheIdsFirstPartUpToASlash) {
    EXPECT_TRUE(isInSpace("gipam-local/198.18.0.0/24", "gipam-local"));
    EXPECT_FALSE(isInSpace("gipam-local/198.18.0.0/24", "gipam-global"));
    EXPECT_FALSE(isInSpace("gipam-localx/198.18.0.0/24", "gipam-local"));
    EXPECT_FALSE(isInSpace("gipam-local", "gipam-local"));
    EXPECT_FALSE(isInSpace("5f0c8ad2-0b3e-4f5a-9d8e-6a2f0c1e2d3b", "gipam-local"));  // the Go gipam's
}

store::AddressRun run(std::string_view first, std::string_view last) { return {address(first), address(last)}; }

TEST(PoolTableExclusionTest, NoBlockIsCutOverAnExclusion) {
    PoolTable table(store::Supernet{prefix("198.18.0.0/16"), 24}, std::nullopt,
                    {run("198.18.0.5", "198.18.0.9"), run("198.18.1.0", "198.18.2.255")});
    auto* blocks = table.blocksFor(ip::Family::V4);
    EXPECT_EQ(blocks->allocate(24), prefix("198.18.3.0/24"));
    // Smaller blocks beside an exclusion are still cut.
    EXPECT_EQ(blocks->allocate(30), prefix("198.18.0.0/30"));
    EXPECT_EQ(blocks->allocate(30), prefix("198.18.0.12/30"));
}

TEST(PoolTableExclusionTest, AnExclusionAsWideAsASlashSixteenInASlashEightCostsItsPrefixesNotItsSize) {
    PoolTable table(store::Supernet{prefix("10.0.0.0/8"), 24}, std::nullopt, {run("10.0.0.0", "10.0.255.255")});
    EXPECT_EQ(table.blocksFor(ip::Family::V4)->allocate(24), prefix("10.1.0.0/24"));
    PoolTable v6(std::nullopt, store::Supernet{prefix("2001:db8::/32"), 64},
                 {run("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe")});
    EXPECT_EQ(v6.blocksFor(ip::Family::V6)->allocate(64), std::nullopt);
    EXPECT_EQ(v6.blocksFor(ip::Family::V6)->allocate(128), prefix("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128"));
}

TEST(PoolTableExclusionTest, APoolAskedForOverAnExclusionHoldsItAndGivesItBackToTheExclusion) {
    PoolTable table(store::Supernet{prefix("198.18.0.0/16"), 24}, std::nullopt, {run("198.18.0.0", "198.18.3.255")});
    table.insert(pool("inside", "198.18.1.0/24"));
    table.insert(pool("over", "198.18.3.128/25"));
    auto* blocks = table.blocksFor(ip::Family::V4);
    // The rest of the exclusion stays excluded around the pools.
    EXPECT_EQ(blocks->allocate(26), prefix("198.18.4.0/26"));
    table.erase("inside");
    table.erase("over");
    EXPECT_EQ(blocks->allocate(22), prefix("198.18.8.0/22"));
    EXPECT_EQ(blocks->allocate(26), prefix("198.18.4.64/26"));
    // Inserted and erased again: the exclusion is whole as before.
    table.insert(pool("whole", "198.18.0.0/22"));
    table.erase("whole");
    EXPECT_EQ(blocks->allocate(26), prefix("198.18.4.128/26"));
    EXPECT_EQ(table.leases().excluded, (std::vector{run("198.18.0.0", "198.18.3.255")}));
}

}  // namespace
}  // namespace gipam::ipam
