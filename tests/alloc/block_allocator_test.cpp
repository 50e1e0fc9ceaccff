#include "alloc/block_allocator.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace gipam::alloc {
namespace {

using ip::Prefix;

Prefix prefix(std::string_view text) {
    return Prefix::parse(text);
}

TEST(BlockAllocatorTest, AllocatesLowestBlockFirst) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.supernet(), prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.0.0/24"));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.1.0/24"));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.2.0/24"));
}

TEST(BlockAllocatorTest, ExhaustsAfterEveryBlockIsHeldOnce) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    std::set<Prefix> seen;
    for (int i = 0; i < 256; ++i) {
        const auto block = blocks.allocate(24);
        ASSERT_TRUE(block) << "block " << i;
        EXPECT_EQ(block->length(), 24);
        EXPECT_TRUE(blocks.supernet().contains(*block));
        EXPECT_TRUE(seen.insert(*block).second) << block->toString() << " handed out twice";
    }
    EXPECT_EQ(blocks.allocate(24), std::nullopt);
    EXPECT_EQ(blocks.allocate(30), std::nullopt);
}

TEST(BlockAllocatorTest, ReusesAReleasedBlock) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    blocks.allocate(24);
    const auto second = blocks.allocate(24);
    blocks.allocate(24);
    blocks.release(*second);
    EXPECT_EQ(blocks.allocate(24), second);
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.3.0/24"));
}

TEST(BlockAllocatorTest, ReleasedBlockIsReusedAfterExhaustion) {
    BlockAllocator blocks(prefix("198.18.0.0/22"));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(blocks.allocate(24));
    ASSERT_EQ(blocks.allocate(24), std::nullopt);
    blocks.release(prefix("198.18.2.0/24"));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.2.0/24"));
    EXPECT_EQ(blocks.allocate(24), std::nullopt);
}

TEST(BlockAllocatorTest, AllocateAvoidsAReservedBlock) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_TRUE(blocks.reserve(prefix("198.18.0.0/24")));
    EXPECT_TRUE(blocks.reserve(prefix("198.18.2.0/24")));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.1.0/24"));
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.3.0/24"));
}

TEST(BlockAllocatorTest, ReserveInTheMiddleLeavesEverythingElseFree) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    ASSERT_TRUE(blocks.reserve(prefix("198.18.77.0/24")));
    std::set<Prefix> seen;
    while (const auto block = blocks.allocate(24)) seen.insert(*block);
    EXPECT_EQ(seen.size(), 255u);
    EXPECT_EQ(seen.count(prefix("198.18.77.0/24")), 0u);
}

TEST(BlockAllocatorTest, ReserveRefusesAnythingAlreadyHeld) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    ASSERT_EQ(blocks.allocate(24), prefix("198.18.0.0/24"));
    EXPECT_FALSE(blocks.reserve(prefix("198.18.0.0/24")));    // the same block
    EXPECT_FALSE(blocks.reserve(prefix("198.18.0.128/25")));  // inside it
    EXPECT_FALSE(blocks.reserve(prefix("198.18.0.0/23")));    // containing it
    EXPECT_FALSE(blocks.reserve(prefix("198.18.0.0/16")));    // the whole supernet
    // Nothing changed: the next block is still the next one up.
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.1.0/24"));
}

TEST(BlockAllocatorTest, ReserveRefusesBlocksOutsideTheSupernet) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_FALSE(blocks.reserve(prefix("198.19.0.0/24")));
    EXPECT_FALSE(blocks.reserve(prefix("198.18.0.0/15")));
    EXPECT_FALSE(blocks.reserve(prefix("2001:db8::/64")));
    EXPECT_EQ(blocks.allocate(16), prefix("198.18.0.0/16"));
}

TEST(BlockAllocatorTest, MixedSizesDoNotOverlapAndTakeTheLowestAlignedFreeBlock) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.allocate(26), prefix("198.18.0.0/26"));
    // 198.18.0.0/24 is partly held, so the lowest free /24 is the next one.
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.1.0/24"));
    // Smaller blocks fill the gap next to the first one.
    EXPECT_EQ(blocks.allocate(26), prefix("198.18.0.64/26"));
    EXPECT_EQ(blocks.allocate(25), prefix("198.18.0.128/25"));
    EXPECT_EQ(blocks.allocate(30), prefix("198.18.2.0/30"));
    EXPECT_EQ(blocks.allocate(23), prefix("198.18.4.0/23"));
}

TEST(BlockAllocatorTest, ReleaseCoalescesBuddiesBackIntoTheSupernet) {
    BlockAllocator blocks(prefix("198.18.0.0/24"));
    std::vector<Prefix> quarters;
    for (int i = 0; i < 4; ++i) quarters.push_back(*blocks.allocate(26));
    EXPECT_EQ(blocks.allocate(26), std::nullopt);
    EXPECT_EQ(blocks.allocate(24), std::nullopt);
    // Release in an order that needs merging at both levels.
    blocks.release(quarters[1]);
    blocks.release(quarters[2]);
    EXPECT_EQ(blocks.allocate(24), std::nullopt);
    EXPECT_EQ(blocks.allocate(25), std::nullopt);
    blocks.release(quarters[3]);
    blocks.release(quarters[0]);
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.0.0/24"));
}

TEST(BlockAllocatorTest, ReleasedSmallBlocksServeALargerRequest) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    std::vector<Prefix> small;
    for (int i = 0; i < 8; ++i) small.push_back(*blocks.allocate(27));  // all of 198.18.0.0/24
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.1.0/24"));
    for (const auto& block : small) blocks.release(block);
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.0.0/24"));
}

TEST(BlockAllocatorTest, ReleaseOfAReservedBlockMakesItAvailable) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    ASSERT_TRUE(blocks.reserve(prefix("198.18.0.0/24")));
    blocks.release(prefix("198.18.0.0/24"));
    EXPECT_EQ(blocks.allocate(16), prefix("198.18.0.0/16"));
}

TEST(BlockAllocatorTest, WholeSupernetCanBeOneBlock) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.allocate(16), prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.allocate(24), std::nullopt);
    EXPECT_EQ(blocks.allocate(32), std::nullopt);
}

TEST(BlockAllocatorTest, RefusesLengthsOutsideTheSupernetAndTheFamily) {
    BlockAllocator blocks(prefix("198.18.0.0/16"));
    EXPECT_EQ(blocks.allocate(15), std::nullopt);
    EXPECT_EQ(blocks.allocate(33), std::nullopt);
    EXPECT_EQ(blocks.allocate(-1), std::nullopt);
    EXPECT_EQ(blocks.allocate(24), prefix("198.18.0.0/24"));
}

TEST(BlockAllocatorTest, Ipv6SlashFiftySixHoldsTwoHundredFiftySixSlashSixtyFours) {
    BlockAllocator blocks(prefix("2001:db8:100::/56"));
    EXPECT_EQ(blocks.allocate(64), prefix("2001:db8:100::/64"));
    EXPECT_EQ(blocks.allocate(64), prefix("2001:db8:100:1::/64"));
    for (int i = 2; i < 256; ++i) ASSERT_TRUE(blocks.allocate(64)) << "block " << i;
    EXPECT_EQ(blocks.allocate(64), std::nullopt);
    blocks.release(prefix("2001:db8:100:ff::/64"));
    EXPECT_EQ(blocks.allocate(64), prefix("2001:db8:100:ff::/64"));
}

TEST(BlockAllocatorTest, HugeIpv6SupernetIsNeverEnumerated) {
    // 2^32 blocks of /64: anything that walks the blocks would not finish.
    BlockAllocator blocks(prefix("2001:db8::/32"));
    for (int i = 0; i < 1000; ++i) {
        const auto block = blocks.allocate(64);
        ASSERT_TRUE(block);
        EXPECT_EQ(block->network().value(), prefix("2001:db8::/32").network().value() + (ip::U128(i) << 64));
    }
    EXPECT_TRUE(blocks.reserve(prefix("2001:db8:ffff:ffff::/64")));
    EXPECT_FALSE(blocks.reserve(prefix("2001:db8:ffff:ffff::/64")));
    blocks.release(prefix("2001:db8:0:7::/64"));
    EXPECT_EQ(blocks.allocate(64), prefix("2001:db8:0:7::/64"));
    EXPECT_EQ(blocks.allocate(48), prefix("2001:db8:1::/48"));
}

TEST(BlockAllocatorTest, Ipv6SlashZeroSupernetWorksWithoutOverflow) {
    BlockAllocator blocks(prefix("::/0"));
    EXPECT_EQ(blocks.allocate(64), prefix("::/64"));
    EXPECT_EQ(blocks.allocate(128), prefix("0:0:0:1::/128"));
    EXPECT_EQ(blocks.allocate(1), prefix("8000::/1"));
    EXPECT_EQ(blocks.allocate(0), std::nullopt);
    blocks.release(prefix("8000::/1"));
    blocks.release(prefix("0:0:0:1::/128"));
    blocks.release(prefix("::/64"));
    EXPECT_EQ(blocks.allocate(0), prefix("::/0"));
}

TEST(BlockAllocatorTest, Ipv4SlashZeroSupernetWorks) {
    BlockAllocator blocks(prefix("0.0.0.0/0"));
    EXPECT_EQ(blocks.allocate(8), prefix("0.0.0.0/8"));
    EXPECT_EQ(blocks.allocate(32), prefix("1.0.0.0/32"));
    EXPECT_TRUE(blocks.reserve(prefix("255.255.255.255/32")));
}

}  // namespace
}  // namespace gipam::alloc
