#include "ip/prefix.h"

#include <gtest/gtest.h>

#include <string>

namespace gipam::ip {
namespace {

// The message of the ParseError that parsing `text` throws, or "" (and a test failure) if none.
std::string parseErrorOf(std::string_view text) {
    try {
        Prefix::parse(text);
    } catch (const ParseError& error) {
        return error.what();
    }
    ADD_FAILURE() << "'" << text << "' was accepted as a prefix";
    return {};
}

Prefix prefix(std::string_view text) {
    return Prefix::parse(text);
}
Address address(std::string_view text) {
    return Address::parse(text);
}

TEST(PrefixTest, ParsesIpv4Prefix) {
    const Prefix p = prefix("198.18.4.0/24");
    EXPECT_EQ(p.family(), Family::V4);
    EXPECT_EQ(p.network(), address("198.18.4.0"));
    EXPECT_EQ(p.length(), 24);
    EXPECT_EQ(p.hostBits(), 8);
    EXPECT_EQ(p.lastOffset(), U128{255});
    EXPECT_EQ(p.last(), address("198.18.4.255"));
    EXPECT_EQ(p.toString(), "198.18.4.0/24");
}

TEST(PrefixTest, ParsesIpv6PrefixAndFormatsItCanonically) {
    const Prefix p = prefix("2001:0DB8:0100:0000::/56");
    EXPECT_EQ(p.family(), Family::V6);
    EXPECT_EQ(p.length(), 56);
    EXPECT_EQ(p.hostBits(), 72);
    EXPECT_EQ(p.toString(), "2001:db8:100::/56");
    EXPECT_EQ(p.last(), address("2001:db8:100:ff:ffff:ffff:ffff:ffff"));
}

TEST(PrefixTest, AtAndOffsetOfAreInverse) {
    const Prefix p = prefix("198.18.4.0/24");
    EXPECT_EQ(p.at(0), address("198.18.4.0"));
    EXPECT_EQ(p.at(9), address("198.18.4.9"));
    EXPECT_EQ(p.offsetOf(address("198.18.4.200")), U128{200});
    const Prefix q = prefix("2001:db8::/64");
    EXPECT_EQ(q.at(q.offsetOf(address("2001:db8::abcd:1"))), address("2001:db8::abcd:1"));
}

TEST(PrefixTest, HostBitsSetNamesTheCanonicalPrefix) {
    const std::string message = parseErrorOf("198.18.4.1/24");
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.4.1/24", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "did you mean 198.18.4.0/24?", message);
}

TEST(PrefixTest, Ipv6HostBitsSetNamesTheCanonicalPrefix) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "did you mean 2001:db8::/64?", parseErrorOf("2001:db8::1/64"));
}

TEST(PrefixTest, ConstructorRefusesHostBits) {
    EXPECT_THROW(Prefix(address("198.18.4.1"), 24), ParseError);
    EXPECT_NO_THROW(Prefix(address("198.18.4.1"), 32));
}

TEST(PrefixTest, ConstructorRefusesLengthOutOfRange) {
    EXPECT_THROW(Prefix(address("198.18.4.0"), 33), ParseError);
    EXPECT_THROW(Prefix(address("198.18.4.0"), -1), ParseError);
    EXPECT_THROW(Prefix(address("2001:db8::"), 129), ParseError);
}

TEST(PrefixTest, RejectsMissingLength) {
    for (const char* text : {"198.18.4.0", "198.18.4.0/", "2001:db8::", "2001:db8::/", "/24", ""}) {
        EXPECT_THROW(Prefix::parse(text), ParseError) << "'" << text << "'";
    }
}

TEST(PrefixTest, RejectsLengthOutOfRange) {
    for (const char* text : {"198.18.4.0/33", "198.18.4.0/-1", "198.18.4.0/999999999999", "2001:db8::/129"}) {
        EXPECT_THROW(Prefix::parse(text), ParseError) << "'" << text << "'";
    }
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.4.0/33", parseErrorOf("198.18.4.0/33"));
}

TEST(PrefixTest, RejectsMalformedLength) {
    for (const char* text : {"198.18.4.0/24x", "198.18.4.0/ 24", "198.18.4.0/+24", "198.18.4.0/024", "198.18.4.0/2 4",
                             "198.18.4.0/24/24", "198.18.4.0/0x18"}) {
        EXPECT_THROW(Prefix::parse(text), ParseError) << "'" << text << "'";
    }
}

TEST(PrefixTest, RejectsGarbageAddressAndZoneIds) {
    EXPECT_THROW(Prefix::parse("banana/24"), ParseError);
    EXPECT_THROW(Prefix::parse("198.18.4/24"), ParseError);
    EXPECT_THROW(Prefix::parse("198.018.4.0/24"), ParseError);
    EXPECT_THROW(Prefix::parse("fe80::%eth0/64"), ParseError);
}

TEST(PrefixTest, ZeroLengthPrefixesCoverTheirFamily) {
    const Prefix v4all = prefix("0.0.0.0/0");
    EXPECT_EQ(v4all.lastOffset(), U128{0xFFFFFFFF});
    EXPECT_EQ(v4all.last(), address("255.255.255.255"));
    EXPECT_TRUE(v4all.contains(address("198.18.4.9")));
    EXPECT_FALSE(v4all.contains(address("::1")));
}

TEST(PrefixTest, LastOffsetOfIpv6SlashZeroDoesNotOverflow) {
    const Prefix all = prefix("::/0");
    EXPECT_EQ(all.hostBits(), 128);
    EXPECT_EQ(all.lastOffset(), ~U128{0});
    EXPECT_EQ(all.last(), address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(all.contains(address("2001:db8::1")));
    EXPECT_TRUE(all.contains(prefix("2001:db8::/32")));
    EXPECT_FALSE(all.contains(address("198.18.4.9")));
}

TEST(PrefixTest, HostPrefixesHoldOneAddress) {
    EXPECT_EQ(prefix("198.18.4.9/32").lastOffset(), U128{0});
    EXPECT_EQ(prefix("2001:db8::9/128").lastOffset(), U128{0});
    EXPECT_EQ(prefix("198.18.4.9/32").last(), address("198.18.4.9"));
}

TEST(PrefixTest, ContainsAddressesOnlyInsideAndOfItsFamily) {
    const Prefix p = prefix("198.18.4.0/24");
    EXPECT_TRUE(p.contains(address("198.18.4.0")));
    EXPECT_TRUE(p.contains(address("198.18.4.255")));
    EXPECT_FALSE(p.contains(address("198.18.5.0")));
    EXPECT_FALSE(p.contains(address("198.18.3.255")));
    // The same 32-bit value as an IPv6 address is not inside an IPv4 prefix.
    EXPECT_FALSE(p.contains(Address(Family::V6, address("198.18.4.1").value())));
}

TEST(PrefixTest, ContainsPrefixesThatAreEqualOrSmaller) {
    const Prefix p = prefix("198.18.4.0/24");
    EXPECT_TRUE(p.contains(prefix("198.18.4.0/24")));
    EXPECT_TRUE(p.contains(prefix("198.18.4.128/25")));
    EXPECT_TRUE(p.contains(prefix("198.18.4.77/32")));
    EXPECT_FALSE(p.contains(prefix("198.18.4.0/23")));
    EXPECT_FALSE(p.contains(prefix("198.18.5.0/25")));
    EXPECT_FALSE(p.contains(prefix("::/0")));
}

TEST(PrefixTest, OverlapsIsSymmetricAndFamilyAware) {
    const Prefix p = prefix("198.18.4.0/24");
    EXPECT_TRUE(p.overlaps(prefix("198.18.4.128/25")));
    EXPECT_TRUE(prefix("198.18.4.128/25").overlaps(p));
    EXPECT_TRUE(p.overlaps(prefix("198.18.0.0/16")));
    EXPECT_TRUE(prefix("198.18.0.0/16").overlaps(p));
    EXPECT_FALSE(p.overlaps(prefix("198.18.5.0/24")));
    EXPECT_FALSE(p.overlaps(prefix("198.18.3.0/24")));
    EXPECT_FALSE(prefix("0.0.0.0/0").overlaps(prefix("::/0")));
    EXPECT_FALSE(prefix("::/0").overlaps(prefix("0.0.0.0/0")));
}

TEST(PrefixTest, EqualityComparesNetworkAndLength) {
    EXPECT_EQ(prefix("198.18.4.0/24"), Prefix(address("198.18.4.0"), 24));
    EXPECT_NE(prefix("198.18.4.0/24"), prefix("198.18.4.0/25"));
    EXPECT_NE(prefix("198.18.4.0/24"), prefix("198.18.5.0/24"));
}

TEST(PrefixTest, PrefixesCoveringARangeAreTheFewestThatAreExactlyIt) {
    const auto covering = [](std::string_view first, std::string_view last) {
        std::string out;
        for (const auto& prefix : prefixesCovering(Address::parse(first), Address::parse(last))) {
            out += (out.empty() ? "" : " ") + prefix.toString();
        }
        return out;
    };
    EXPECT_EQ(covering("198.18.0.0", "198.18.255.255"), "198.18.0.0/16");
    EXPECT_EQ(covering("198.18.0.5", "198.18.0.5"), "198.18.0.5/32");
    EXPECT_EQ(covering("198.18.0.5", "198.18.0.17"), "198.18.0.5/32 198.18.0.6/31 198.18.0.8/29 198.18.0.16/31");
    EXPECT_EQ(covering("0.0.0.0", "255.255.255.255"), "0.0.0.0/0");
    EXPECT_EQ(covering("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "::/0");
    EXPECT_LE(prefixesCovering(Address::parse("::1"), Address::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")).size(),
              256u);
    EXPECT_EQ(covering("255.255.255.254", "255.255.255.255"), "255.255.255.254/31");
}

}  // namespace
}  // namespace gipam::ip
