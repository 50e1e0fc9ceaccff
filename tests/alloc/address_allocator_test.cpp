#include "alloc/address_allocator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

namespace gipam::alloc {
namespace {

using ip::Address;
using ip::Prefix;
using Order = AddressAllocator::Order;
using ReserveResult = AddressAllocator::ReserveResult;

Prefix prefix(std::string_view text) {
    return Prefix::parse(text);
}
Address address(std::string_view text) {
    return Address::parse(text);
}

AddressAllocator lowestFirst(std::string_view pool) {
    return {prefix(pool), std::nullopt, Order::LowestFirst};
}

TEST(AddressAllocatorTest, FirstAddressIsDotOne) {
    auto addresses = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    EXPECT_TRUE(addresses.isHeld(address("198.18.4.1")));
    EXPECT_EQ(addresses.held().count(), ip::U128{2});
}

TEST(AddressAllocatorTest, FirstIpv6AddressIsColonColonOne) {
    auto addresses = lowestFirst("2001:db8:100::/64");
    EXPECT_EQ(addresses.allocate(), address("2001:db8:100::1"));
}

TEST(AddressAllocatorTest, NeverHandsOutTheNetworkOrIpv4Broadcast) {
    auto addresses = lowestFirst("198.18.4.0/29");
    std::set<Address> handed;
    while (const auto next = addresses.allocate()) handed.insert(*next);
    EXPECT_EQ(handed, (std::set<Address>{address("198.18.4.1"), address("198.18.4.2"), address("198.18.4.3"),
                                         address("198.18.4.4"), address("198.18.4.5"), address("198.18.4.6")}));
    EXPECT_EQ(addresses.allocateLowestInPool(), std::nullopt);
}

TEST(AddressAllocatorTest, NeverHandsOutIpv6SubnetRouterAnycastButUsesTheLastAddress) {
    auto addresses = lowestFirst("2001:db8::/126");
    EXPECT_EQ(addresses.allocate(), address("2001:db8::1"));
    EXPECT_EQ(addresses.allocate(), address("2001:db8::2"));
    EXPECT_EQ(addresses.allocate(), address("2001:db8::3"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, ProtocolReservedAddresses) {
    const auto v4 = lowestFirst("198.18.4.0/24");
    EXPECT_TRUE(v4.isReservedByProtocol(address("198.18.4.0")));
    EXPECT_TRUE(v4.isReservedByProtocol(address("198.18.4.255")));
    EXPECT_FALSE(v4.isReservedByProtocol(address("198.18.4.1")));
    const auto v6 = lowestFirst("2001:db8::/64");
    EXPECT_TRUE(v6.isReservedByProtocol(address("2001:db8::")));
    EXPECT_FALSE(v6.isReservedByProtocol(address("2001:db8::ffff:ffff:ffff:ffff")));
}

TEST(AddressAllocatorTest, SlashThirtyOneUsesBothAddresses) {
    auto addresses = lowestFirst("198.18.4.0/31");
    EXPECT_FALSE(addresses.isReservedByProtocol(address("198.18.4.0")));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.0"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, SlashThirtyTwoHandsOutItsOnlyAddress) {
    auto addresses = lowestFirst("198.18.4.9/32");
    EXPECT_EQ(addresses.allocateLowestInPool(), address("198.18.4.9"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
    EXPECT_TRUE(addresses.release(address("198.18.4.9")));
    EXPECT_EQ(addresses.reserve(address("198.18.4.9")), ReserveResult::Reserved);
}

TEST(AddressAllocatorTest, Ipv6SlashOneTwentySevenAndOneTwentyEight) {
    auto pair = lowestFirst("2001:db8::/127");
    EXPECT_EQ(pair.allocate(), address("2001:db8::"));
    EXPECT_EQ(pair.allocate(), address("2001:db8::1"));
    EXPECT_EQ(pair.allocate(), std::nullopt);
    auto single = lowestFirst("2001:db8::7/128");
    EXPECT_EQ(single.allocate(), address("2001:db8::7"));
    EXPECT_EQ(single.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, SlashThirtyHasTwoHosts) {
    auto addresses = lowestFirst("198.18.4.4/30");
    EXPECT_EQ(addresses.allocate(), address("198.18.4.5"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.6"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, ReleaseFreesForLowestFirstReuse) {
    auto addresses = lowestFirst("198.18.4.0/24");
    addresses.allocate();
    addresses.allocate();
    addresses.allocate();
    EXPECT_TRUE(addresses.release(address("198.18.4.2")));
    EXPECT_FALSE(addresses.isHeld(address("198.18.4.2")));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.4"));
}

TEST(AddressAllocatorTest, ReleaseOfAnAddressNotHeldReturnsFalse) {
    auto addresses = lowestFirst("198.18.4.0/24");
    EXPECT_FALSE(addresses.release(address("198.18.4.1")));
    EXPECT_FALSE(addresses.release(address("198.18.5.1")));
    EXPECT_FALSE(addresses.release(address("2001:db8::1")));
    EXPECT_FALSE(addresses.isHeld(address("2001:db8::1")));
}

TEST(AddressAllocatorTest, ReserveHoldsAnExactAddress) {
    auto addresses = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(addresses.reserve(address("198.18.4.1")), ReserveResult::Reserved);
    EXPECT_EQ(addresses.reserve(address("198.18.4.200")), ReserveResult::Reserved);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    EXPECT_TRUE(addresses.isHeld(address("198.18.4.200")));
}

TEST(AddressAllocatorTest, ReserveOfAHeldAddressIsAlreadyHeld) {
    auto addresses = lowestFirst("198.18.4.0/24");
    const auto first = addresses.allocate();
    EXPECT_EQ(addresses.reserve(*first), ReserveResult::AlreadyHeld);
}

TEST(AddressAllocatorTest, ReserveOutsideThePoolIsNotInPool) {
    auto addresses = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(addresses.reserve(address("198.18.5.1")), ReserveResult::NotInPool);
    EXPECT_EQ(addresses.reserve(address("198.18.3.255")), ReserveResult::NotInPool);
}

TEST(AddressAllocatorTest, ReserveOfTheWrongFamilyIsNotInPool) {
    auto v4 = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(v4.reserve(address("::ffff:198.18.4.5")), ReserveResult::NotInPool);
    EXPECT_EQ(v4.reserve(ip::Address(ip::Family::V6, address("198.18.4.5").value())), ReserveResult::NotInPool);
    auto v6 = lowestFirst("::/96");
    EXPECT_EQ(v6.reserve(address("0.0.0.5")), ReserveResult::NotInPool);
    EXPECT_TRUE(v4.held().empty());
    EXPECT_TRUE(v6.held().empty());
}

TEST(AddressAllocatorTest, ReserveOfProtocolAddressesIsNotAHost) {
    auto v4 = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(v4.reserve(address("198.18.4.0")), ReserveResult::NotAHost);
    EXPECT_EQ(v4.reserve(address("198.18.4.255")), ReserveResult::NotAHost);
    auto v6 = lowestFirst("2001:db8::/64");
    EXPECT_EQ(v6.reserve(address("2001:db8::")), ReserveResult::NotAHost);
    EXPECT_EQ(v6.reserve(address("2001:db8::ffff:ffff:ffff:ffff")), ReserveResult::Reserved);
}

TEST(AddressAllocatorTest, ReserveRunHoldsEveryAddressOrNone) {
    auto addresses = lowestFirst("198.18.4.0/24");
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.10"), address("198.18.4.20")), ReserveResult::Reserved);
    EXPECT_EQ(addresses.held().count(), ip::U128{11});
    // Overlapping the held run: nothing of it is taken.
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.5"), address("198.18.4.10")), ReserveResult::AlreadyHeld);
    EXPECT_FALSE(addresses.isHeld(address("198.18.4.5")));
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.0"), address("198.18.4.3")), ReserveResult::NotAHost);
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.250"), address("198.18.4.255")), ReserveResult::NotAHost);
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.30"), address("198.18.4.25")), ReserveResult::NotInPool);
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.250"), address("198.18.5.1")), ReserveResult::NotInPool);
    EXPECT_EQ(addresses.held().count(), ip::U128{11});
}

TEST(AddressAllocatorTest, AllocateStaysInsideTheSubPool) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.128/25"), Order::LowestFirst);
    EXPECT_EQ(addresses.subPool(), prefix("198.18.4.128/25"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.128"));
    int count = 1;
    while (const auto next = addresses.allocate()) {
        EXPECT_TRUE(prefix("198.18.4.128/25").contains(*next)) << next->toString();
        EXPECT_NE(*next, address("198.18.4.255"));
        ++count;
    }
    EXPECT_EQ(count, 127);  // .128 to .254: the pool's broadcast stays out
    EXPECT_FALSE(addresses.isHeld(address("198.18.4.1")));
}

TEST(AddressAllocatorTest, SubPoolAtThePoolStartSkipsTheNetworkAddress) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.0/30"), Order::LowestFirst);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.3"));  // not a broadcast: inside the pool
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, LowestInPoolAndReserveMayUseTheWholePool) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.128/25"), Order::LowestFirst);
    EXPECT_EQ(addresses.allocateLowestInPool(), address("198.18.4.1"));
    EXPECT_EQ(addresses.reserve(address("198.18.4.5")), ReserveResult::Reserved);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.128"));
    EXPECT_EQ(addresses.allocateLowestInPool(), address("198.18.4.2"));
}

TEST(AddressAllocatorTest, SubPoolOfTheNetworkAddressAloneIsEmpty) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.0/32"), Order::LowestFirst);
    EXPECT_EQ(addresses.allocate(), std::nullopt);
    AddressAllocator broadcast(prefix("198.18.4.0/24"), prefix("198.18.4.255/32"), Order::LowestFirst);
    EXPECT_EQ(broadcast.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, RoundRobinDoesNotReuseAJustReleasedAddress) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), std::nullopt, Order::RoundRobin);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    addresses.release(address("198.18.4.2"));
    addresses.release(address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.3"));
}

TEST(AddressAllocatorTest, RoundRobinWrapsToTheLowestFreeAddress) {
    AddressAllocator addresses(prefix("198.18.4.0/29"), std::nullopt, Order::RoundRobin);
    for (int i = 1; i <= 6; ++i) ASSERT_TRUE(addresses.allocate());
    addresses.release(address("198.18.4.2"));
    addresses.release(address("198.18.4.4"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.4"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, RoundRobinSkipsHeldAddressesAfterTheCursor) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), std::nullopt, Order::RoundRobin);
    addresses.allocate();  // .1, cursor now after it
    EXPECT_EQ(addresses.cursor(), ip::U128{2});
    addresses.reserveRun(address("198.18.4.2"), address("198.18.4.9"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.10"));
}

TEST(AddressAllocatorTest, RoundRobinContinuesFromASetCursor) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), std::nullopt, Order::RoundRobin);
    addresses.setCursor(200);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.200"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.201"));
}

TEST(AddressAllocatorTest, RoundRobinWrapsInsideTheSubPool) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.8/30"), Order::RoundRobin);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.8"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.9"));
    addresses.release(address("198.18.4.8"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.10"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.11"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.8"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, LowestFirstReusesAJustReleasedAddress) {
    auto addresses = lowestFirst("198.18.4.0/24");
    addresses.allocate();
    addresses.allocate();
    addresses.release(address("198.18.4.1"));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
}

TEST(AddressAllocatorTest, SlashSixtyFourWithAHundredThousandHeldStaysFast) {
    const auto start = std::chrono::steady_clock::now();
    AddressAllocator addresses(prefix("2001:db8:100::/64"), std::nullopt, Order::LowestFirst);
    for (int i = 0; i < 100000; ++i) ASSERT_TRUE(addresses.allocate());
    EXPECT_EQ(addresses.held().count(), ip::U128{100000});
    EXPECT_EQ(addresses.held().runs().size(), 1u);
    // Holes everywhere: every other address freed, so 50,000 runs.
    for (int i = 1; i <= 100000; i += 2) ASSERT_TRUE(addresses.release(prefix("2001:db8:100::/64").at(i)));
    EXPECT_EQ(addresses.held().runs().size(), 50000u);
    EXPECT_EQ(addresses.allocate(), address("2001:db8:100::1"));
    EXPECT_EQ(addresses.reserve(address("2001:db8:100:0:ffff:ffff:ffff:ffff")), ReserveResult::Reserved);
    AddressAllocator serial(prefix("2001:db8:100::/64"), std::nullopt, Order::RoundRobin);
    for (int i = 0; i < 100000; ++i) ASSERT_TRUE(serial.allocate());
    EXPECT_EQ(serial.allocate(), prefix("2001:db8:100::/64").at(100001));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(AddressAllocatorTest, ExcludedAddressesAreSkippedAndRefusedByValueButNotStoredAsHeld) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), std::nullopt, Order::LowestFirst);
    ASSERT_TRUE(addresses.exclude(address("198.18.4.1"), address("198.18.4.9")));
    ASSERT_TRUE(addresses.exclude(address("198.18.4.11"), address("198.18.4.11")));
    ASSERT_TRUE(addresses.exclude(address("198.18.4.10"), address("198.18.4.10")));  // merges with both
    EXPECT_EQ(addresses.excluded().runs().size(), 1u);
    EXPECT_EQ(addresses.allocate(), address("198.18.4.12"));
    EXPECT_EQ(addresses.allocateLowestInPool(), address("198.18.4.13"));
    EXPECT_EQ(addresses.reserve(address("198.18.4.5")), ReserveResult::Excluded);
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.11"), address("198.18.4.20")), ReserveResult::Excluded);
    EXPECT_EQ(addresses.reserveRun(address("198.18.4.1"), address("198.18.4.1"), true), ReserveResult::Reserved);
    EXPECT_EQ(addresses.held().count(), 3u);  // .1 (over the exclusion), .12, .13: not the excluded ones
    EXPECT_FALSE(addresses.exclude(address("198.18.5.1"), address("198.18.5.9")));
    EXPECT_FALSE(addresses.exclude(address("2001:db8::1"), address("2001:db8::9")));
}

TEST(AddressAllocatorTest, AnExclusionCostsOneIntervalWhateverItsSize) {
    AddressAllocator addresses(prefix("2001:db8:100::/64"), std::nullopt, Order::RoundRobin);
    // All but the last address of the /64 excluded: 2^64 - 2 addresses, one run.
    ASSERT_TRUE(addresses.exclude(address("2001:db8:100::"), address("2001:db8:100:0:ffff:ffff:ffff:fffe")));
    EXPECT_EQ(addresses.excluded().runs().size(), 1u);
    EXPECT_EQ(addresses.allocate(), address("2001:db8:100:0:ffff:ffff:ffff:ffff"));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
}

TEST(AddressAllocatorTest, FullIpv6PoolOfAnyWidthIsNeverEnumerated) {
    AddressAllocator addresses(prefix("2001:db8::/32"), std::nullopt, Order::RoundRobin);
    addresses.setCursor(prefix("2001:db8::/32").lastOffset());
    EXPECT_EQ(addresses.allocate(), address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_EQ(addresses.allocate(), address("2001:db8::1"));
}

using Time = AddressAllocator::Time;
const Time kNoon = Time() + std::chrono::hours(24 * 20000);

TEST(AddressAllocatorTest, ACoolingAddressIsSkippedUntilItsTimeThenReused) {
    auto addresses = lowestFirst("198.18.4.0/24");
    ASSERT_EQ(addresses.allocate(), address("198.18.4.1"));
    ASSERT_TRUE(addresses.release(address("198.18.4.1")));
    ASSERT_TRUE(addresses.cool(address("198.18.4.1"), kNoon));
    EXPECT_FALSE(addresses.isHeld(address("198.18.4.1")));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.2"));
    addresses.endCoolingBy(kNoon - std::chrono::milliseconds(1));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.3"));
    addresses.endCoolingBy(kNoon);
    EXPECT_TRUE(addresses.cooling().empty());
    EXPECT_EQ(addresses.allocate(), address("198.18.4.1"));
}

TEST(AddressAllocatorTest, ACoolingAddressIsGrantedByValueAndCoolsNoMore) {
    auto addresses = lowestFirst("198.18.4.0/24");
    ASSERT_TRUE(addresses.cool(address("198.18.4.7"), kNoon));
    EXPECT_EQ(addresses.reserve(address("198.18.4.7")), ReserveResult::Reserved);
    EXPECT_TRUE(addresses.cooling().empty());
    ASSERT_TRUE(addresses.release(address("198.18.4.7")));
    // Released without a delay: free at once, and the lowest.
    for (int i = 1; i < 7; ++i) addresses.reserve(address("198.18.4." + std::to_string(i)));
    EXPECT_EQ(addresses.allocate(), address("198.18.4.7"));
}

TEST(AddressAllocatorTest, AHeldAddressCannotCool) {
    auto addresses = lowestFirst("198.18.4.0/24");
    addresses.reserve(address("198.18.4.9"));
    EXPECT_FALSE(addresses.cool(address("198.18.4.9"), kNoon));
    EXPECT_FALSE(addresses.cool(address("198.18.5.9"), kNoon));
    EXPECT_TRUE(addresses.cooling().empty());
}

TEST(AddressAllocatorTest, WhenOnlyCoolingAddressesAreLeftTheOneCooledLongestIsTaken) {
    auto addresses = lowestFirst("198.18.4.0/30");  // .1 and .2
    ASSERT_TRUE(addresses.cool(address("198.18.4.2"), kNoon));
    ASSERT_TRUE(addresses.cool(address("198.18.4.1"), kNoon + std::chrono::seconds(5)));
    EXPECT_EQ(addresses.allocate(), std::nullopt);
    const auto coolest = addresses.allocateCoolest(false);
    ASSERT_TRUE(coolest);
    EXPECT_EQ(coolest->address, address("198.18.4.2"));
    EXPECT_EQ(coolest->until, kNoon);
    EXPECT_TRUE(addresses.isHeld(address("198.18.4.2")));
    EXPECT_EQ(addresses.allocateCoolest(false)->address, address("198.18.4.1"));
    EXPECT_FALSE(addresses.allocateCoolest(false));
}

TEST(AddressAllocatorTest, TheFallbackStaysInTheSubPool) {
    AddressAllocator addresses(prefix("198.18.4.0/24"), prefix("198.18.4.128/25"), Order::LowestFirst);
    ASSERT_TRUE(addresses.cool(address("198.18.4.3"), kNoon));  // outside the sub-pool, cooled longest
    ASSERT_TRUE(addresses.cool(address("198.18.4.200"), kNoon + std::chrono::seconds(1)));
    EXPECT_EQ(addresses.allocateCoolest(false)->address, address("198.18.4.200"));
    EXPECT_EQ(addresses.allocateCoolest(true)->address, address("198.18.4.3"));
}

TEST(AddressAllocatorTest, PicksStayCheapWithManyCoolingAndHeldAddressesInterleaved) {
    // Held and cooling addresses alternate: a pick must not step over them one run at a time.
    AddressAllocator addresses(prefix("2001:db8::/64"), std::nullopt, Order::LowestFirst);
    constexpr int kAddresses = 100000;
    for (int i = 1; i <= kAddresses; ++i) {
        const Address at = addresses.pool().at(i);
        if (i % 2) {
            addresses.reserve(at);
        } else {
            addresses.cool(at, kNoon + std::chrono::milliseconds(i));
        }
    }
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(addresses.allocate(), addresses.pool().at(kAddresses + 1 + i));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    addresses.endCoolingBy(kNoon + std::chrono::milliseconds(kAddresses));
    EXPECT_TRUE(addresses.cooling().empty());
    EXPECT_EQ(addresses.allocate(), addresses.pool().at(2));
}

}  // namespace
}  // namespace gipam::alloc
