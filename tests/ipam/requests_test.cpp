// What Docker sends, as gipam parses it, and how refusals are worded.
#include "ipam/requests.h"

#include <gtest/gtest.h>

#include <set>

namespace gipam::ipam {
namespace {

using ReserveResult = alloc::AddressAllocator::ReserveResult;

ip::Prefix prefix(std::string_view text) { return ip::Prefix::parse(text); }
ip::Address address(std::string_view text) { return ip::Address::parse(text); }

std::string messageOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const IpamError& error) {
        return error.what();
    }
    return "(no IpamError)";
}

TEST(RequestsTest, APoolIdIsItsSpaceSubnetAndIpRange) {
    EXPECT_EQ(poolIdFor(kLocalAddressSpace, prefix("198.18.0.0/24"), std::nullopt), "gipam-local/198.18.0.0/24");
    EXPECT_EQ(poolIdFor(kGlobalAddressSpace, prefix("198.18.0.0/24"), prefix("198.18.0.128/25")),
              "gipam-global/198.18.0.0/24/198.18.0.128/25");
}

TEST(RequestsTest, ABadPrefixOrAddressIsRefusedNamingTheValueAndWhatItWasFor) {
    EXPECT_EQ(parsePrefix("198.18.0.0/24", "subnet"), prefix("198.18.0.0/24"));
    const auto bad = messageOf([] { parsePrefix("198.18.0.0/33", "ip-range"); });
    EXPECT_NE(bad.find("ip-range"), std::string::npos) << bad;
    EXPECT_NE(bad.find("198.18.0.0/33"), std::string::npos) << bad;
    EXPECT_EQ(parseAddress("2001:db8::1", "address"), address("2001:db8::1"));
    const auto badAddress = messageOf([] { parseAddress("198.18.0.256", "address"); });
    EXPECT_NE(badAddress.find("198.18.0.256"), std::string::npos) << badAddress;
}

TEST(RequestsTest, OnlyDockersGatewayTypeMarksAGatewayRequest) {
    EXPECT_TRUE(isGatewayRequest({{std::string(kRequestAddressType), std::string(kGatewayType)}}));
    EXPECT_FALSE(isGatewayRequest({{std::string(kRequestAddressType), "something else"}}));
    EXPECT_FALSE(isGatewayRequest({}));
}

TEST(RequestsTest, AReserveFailureSaysWhyTheAddressCannotBeHeld) {
    const auto pool = prefix("198.18.0.0/24");
    const std::string id = "gipam-local/198.18.0.0/24";
    EXPECT_EQ(describeReserveFailure(ReserveResult::AlreadyHeld, address("198.18.0.5"), pool, id),
              "address 198.18.0.5 is already allocated in pool " + id);
    EXPECT_EQ(describeReserveFailure(ReserveResult::NotAHost, address("198.18.0.0"), pool, id),
              "address 198.18.0.0 is the network address of pool " + id);
    EXPECT_EQ(describeReserveFailure(ReserveResult::NotAHost, address("198.18.0.255"), pool, id),
              "address 198.18.0.255 is the broadcast address of pool " + id);
    EXPECT_EQ(describeReserveFailure(ReserveResult::NotInPool, address("198.18.1.1"), pool, id),
              "address 198.18.1.1 is outside pool " + id);
    EXPECT_EQ(describeReserveFailure(ReserveResult::NotInPool, address("2001:db8::1"), pool, id),
              "address 2001:db8::1 is IPv6 but pool " + id + " is IPv4");
}

TEST(RequestsTest, AFullPoolIsRefusedAsExhaustedNamingItsIpRange) {
    Pool full{"gipam-local/198.18.0.0/24/198.18.0.0/30",
              alloc::AddressAllocator(prefix("198.18.0.0/24"), prefix("198.18.0.0/30"),
                                      alloc::AddressAllocator::Order::LowestFirst),
              {}, {}, {}, {}};
    const auto error = noFreeAddress(full);
    EXPECT_EQ(error.reason(), Refusal::Exhausted);
    EXPECT_NE(std::string(error.what()).find("ip-range 198.18.0.0/30"), std::string::npos) << error.what();
}

TEST(RequestsTest, EveryRefusalHasADistinctMetricLabel) {
    std::set<std::string_view> names;
    for (const auto reason : kRefusals) names.insert(refusalName(reason));
    EXPECT_EQ(names.size(), std::size(kRefusals));
    EXPECT_EQ(refusalName(Refusal::UnknownPool), "unknown_pool");
}

}  // namespace
}  // namespace gipam::ipam
