#include "ip/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace gipam::ip {
namespace {

// The message of the ParseError that parsing `text` throws, or "" (and a test failure) if none.
std::string parseErrorOf(std::string_view text) {
    try {
        Address::parse(text);
    } catch (const ParseError& error) {
        return error.what();
    }
    ADD_FAILURE() << "'" << text << "' was accepted as an address";
    return {};
}

constexpr U128 v6(std::uint64_t high, std::uint64_t low) {
    return (U128{high} << 64) | low;
}

TEST(AddressTest, ParsesDottedQuadIntoTheLow32Bits) {
    const Address address = Address::parse("198.18.4.9");
    EXPECT_EQ(address.family(), Family::V4);
    EXPECT_EQ(address.value(), U128{0xC6120409});
    EXPECT_EQ(address.toString(), "198.18.4.9");
}

TEST(AddressTest, ParsesTheEndsOfTheIpv4Space) {
    EXPECT_EQ(Address::parse("0.0.0.0").value(), U128{0});
    EXPECT_EQ(Address::parse("255.255.255.255").value(), U128{0xFFFFFFFF});
    EXPECT_EQ(Address::parse("255.255.255.255").toString(), "255.255.255.255");
}

TEST(AddressTest, ParsesIpv6IntoAll128Bits) {
    const Address address = Address::parse("2001:db8:100::1");
    EXPECT_EQ(address.family(), Family::V6);
    EXPECT_EQ(address.value(), v6(0x20010db801000000, 1));
}

TEST(AddressTest, FormatsIpv6InRfc5952CanonicalForm) {
    // Lowercase, leading zeros dropped, the longest run of zero fields compressed.
    EXPECT_EQ(Address::parse("2001:0DB8:0000:0000:0000:0000:0000:0001").toString(), "2001:db8::1");
    EXPECT_EQ(Address::parse("2001:db8:0:0:1:0:0:0").toString(), "2001:db8:0:0:1::");
    // Equal runs: the first one is compressed.
    EXPECT_EQ(Address::parse("2001:db8:0:0:1:0:0:1").toString(), "2001:db8::1:0:0:1");
    // A single zero field is never compressed.
    EXPECT_EQ(Address::parse("2001:db8:0:1:1:1:1:1").toString(), "2001:db8:0:1:1:1:1:1");
    EXPECT_EQ(Address::parse("0:0:0:0:0:0:0:0").toString(), "::");
    EXPECT_EQ(Address::parse("::1").toString(), "::1");
    EXPECT_EQ(Address::parse("FE80::ABCD").toString(), "fe80::abcd");
}

TEST(AddressTest, FormatsZeroRunsAtEitherEndAndInTheMiddle) {
    EXPECT_EQ(Address::parse("1:0:0:0:0:0:0:0").toString(), "1::");
    EXPECT_EQ(Address::parse("0:0:1:0:0:0:0:0").toString(), "0:0:1::");
    EXPECT_EQ(Address::parse("1:0:0:2:0:0:0:3").toString(), "1:0:0:2::3");
    EXPECT_EQ(Address::parse("1:2:3:4:5:6:7:0").toString(), "1:2:3:4:5:6:7:0");
    EXPECT_EQ(Address::parse("0:1:2:3:4:5:6:7").toString(), "0:1:2:3:4:5:6:7");
    EXPECT_EQ(Address::parse("1:2:0:0:5:6:7:8").toString(), "1:2::5:6:7:8");
    EXPECT_EQ(Address::parse("2001:db8:0:0:0:0:0:0").toString(), "2001:db8::");
    EXPECT_EQ(Address::parse("::ffff:198.18.0.1").toString(), "::ffff:198.18.0.1");
}

TEST(AddressTest, FormatsIpv4WithoutLeadingZeros) {
    EXPECT_EQ(Address(Family::V4, 0x0A00000A).toString(), "10.0.0.10");
    EXPECT_EQ(Address(Family::V4, 0x01020304).toString(), "1.2.3.4");
    EXPECT_EQ(Address(Family::V4, 0xC612FF64).toString(), "198.18.255.100");
}

TEST(AddressTest, AppendToAppendsTheCanonicalText) {
    std::string out = "addresses: ";
    Address::parse("198.18.4.9").appendTo(out);
    out += ", ";
    Address::parse("2001:DB8::0:1").appendTo(out);
    EXPECT_EQ(out, "addresses: 198.18.4.9, 2001:db8::1");
}

TEST(AddressTest, FormatsLikeInetNtopAndParsesBack) {
    // Random addresses with many zero groups, to exercise every placement of "::".
    std::mt19937_64 random(20240229);
    for (int n = 0; n < 20000; ++n) {
        U128 value = 0;
        for (int group = 0; group < 8; ++group) {
            const auto roll = random();
            const U128 part = (roll % 3 == 0) ? (roll >> 8) & 0xffff : 0;
            value = (value << 16) | part;
        }
        const Address address(Family::V6, value);
        const std::string text = address.toString();
        ASSERT_EQ(Address::parse(text), address) << text;
        // inet_ntop writes ::a.b.c.d for IPv4-compatible addresses, which RFC 5952 does not ask for.
        if ((value >> 32) == 0 && ((value >> 16) & 0xffff) != 0) continue;
        unsigned char bytes[16];
        for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(value >> (120 - 8 * i));
        char expected[INET6_ADDRSTRLEN];
        ASSERT_NE(inet_ntop(AF_INET6, bytes, expected, sizeof expected), nullptr);
        ASSERT_EQ(text, expected);
    }
}

TEST(AddressTest, FormatsTheHighestIpv6Address) {
    const Address highest(Family::V6, ~U128{0});
    EXPECT_EQ(highest.toString(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(Address::parse(highest.toString()), highest);
}

TEST(AddressTest, Ipv4MappedTextStaysIpv6) {
    const Address address = Address::parse("::ffff:198.18.0.1");
    EXPECT_EQ(address.family(), Family::V6);
    EXPECT_NE(address, Address::parse("198.18.0.1"));
}

TEST(AddressTest, SameValueInDifferentFamiliesIsDifferent) {
    EXPECT_NE(Address(Family::V4, 1), Address(Family::V6, 1));
    EXPECT_EQ(Address(Family::V6, 1), Address::parse("::1"));
}

TEST(AddressTest, RejectsGarbage) {
    for (const char* text :
         {"", "banana", "198.18.4", "198.18.4.256", "198.18.4.9.1", "198.18.4.-1", " 198.18.4.9", "198.18.4.9 ",
          "198.18.4.9\n", "1:2:3:4:5:6:7:8:9", "2001:db8:::1", "2001:db8::1::2", "2001:db8::g", "12345::", ":"}) {
        EXPECT_THROW(Address::parse(text), ParseError) << "'" << text << "'";
    }
}

TEST(AddressTest, RejectsPrefixes) {
    EXPECT_THROW(Address::parse("198.18.4.0/24"), ParseError);
    EXPECT_THROW(Address::parse("2001:db8::/64"), ParseError);
}

TEST(AddressTest, RejectsZoneIds) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "fe80::1%eth0", parseErrorOf("fe80::1%eth0"));
    EXPECT_THROW(Address::parse("fe80::1%1"), ParseError);
}

TEST(AddressTest, RejectsLeadingZeroOctets) {
    // "010" is octal to some parsers and decimal to others: refuse rather than guess.
    EXPECT_THROW(Address::parse("198.018.4.9"), ParseError);
    EXPECT_THROW(Address::parse("010.18.4.9"), ParseError);
    EXPECT_THROW(Address::parse("198.18.4.09"), ParseError);
}

TEST(AddressTest, RejectsOverlongTextAndNamesIt) {
    const std::string text = "2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000";
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, text, parseErrorOf(text));
}

TEST(AddressTest, ErrorNamesTheText) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.4.256", parseErrorOf("198.18.4.256"));
}

TEST(AddressTest, OrdersByValueWithinAFamily) {
    EXPECT_LT(Address::parse("198.18.4.9"), Address::parse("198.18.4.10"));
    EXPECT_LT(Address::parse("198.18.4.255"), Address::parse("198.18.5.0"));
    EXPECT_LT(Address::parse("2001:db8::ffff"), Address::parse("2001:db8::1:0"));
}

TEST(AddressMathTest, ToDecimalOfSmallNumbers) {
    EXPECT_EQ(toDecimal(0), "0");
    EXPECT_EQ(toDecimal(7), "7");
    EXPECT_EQ(toDecimal(256), "256");
}

TEST(AddressMathTest, ToDecimalOfTwoToTheSixtyFour) {
    EXPECT_EQ(toDecimal(U128{1} << 64), "18446744073709551616");
}

TEST(AddressMathTest, ToDecimalOfTheLargest128BitNumber) {
    EXPECT_EQ(toDecimal(~U128{0}), "340282366920938463463374607431768211455");
}

TEST(AddressMathTest, LowMaskCoversZeroTo128Bits) {
    EXPECT_EQ(lowMask(0), U128{0});
    EXPECT_EQ(lowMask(8), U128{0xFF});
    EXPECT_EQ(lowMask(64), U128{~std::uint64_t{0}});
    EXPECT_EQ(lowMask(127), ~U128{0} >> 1);
    EXPECT_EQ(lowMask(128), ~U128{0});
}

TEST(AddressMathTest, FamilyWidthsAndNames) {
    static_assert(bitWidth(Family::V4) == 32);
    static_assert(bitWidth(Family::V6) == 128);
    EXPECT_EQ(familyName(Family::V4), "IPv4");
    EXPECT_EQ(familyName(Family::V6), "IPv6");
}

}  // namespace
}  // namespace gipam::ip
