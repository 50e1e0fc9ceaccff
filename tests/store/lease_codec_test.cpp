#include "store/lease_codec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace gipam::store {
namespace {

ip::Prefix prefix(std::string_view text) {
    return ip::Prefix::parse(text);
}
ip::Address address(std::string_view text) {
    return ip::Address::parse(text);
}

// The message of the FormatError that decoding `text` throws, or "" (and a test failure) if none.
std::string formatErrorOf(std::string_view text) {
    try {
        decodeLeases(text);
    } catch (const FormatError& error) {
        return error.what();
    }
    ADD_FAILURE() << "accepted:\n" << text;
    return {};
}

// A gipam lease file with one pool whose body is `pool` (JSON object members).
std::string fileWithPool(std::string_view pool) {
    return R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": [{"id": "p", )" + std::string(pool) + "}]}";
}

Leases sampleLeases() {
    Leases leases{Supernet{prefix("198.18.0.0/16"), 24}, Supernet{prefix("2001:db8:100::/56"), 64}, {}};
    leases.pools.push_back(
        {"gipam-local/198.18.0.0/24",
         prefix("198.18.0.0/24"),
         std::nullopt,
         {},
         std::nullopt,
         {{address("198.18.0.1"), address("198.18.0.4")}, {address("198.18.0.9"), address("198.18.0.9")}}});
    leases.pools.push_back(
        {"gipam-local/198.18.200.0/24/198.18.200.128/25",
         prefix("198.18.200.0/24"),
         prefix("198.18.200.128/25"),
         {{"com.docker.network.ipam.serial", "true"},
          {"com.example.note", "quote \" backslash \\ newline \n tab \t bell \x07 caf\xc3\xa9"}},
         address("198.18.200.131"),
         {{address("198.18.200.1"), address("198.18.200.1")}, {address("198.18.200.128"), address("198.18.200.130")}}});
    leases.pools.push_back(
        {"gipam-local/2001:db8:100::/64",
         prefix("2001:db8:100::/64"),
         std::nullopt,
         {},
         std::nullopt,
         {{address("2001:db8:100::1"), address("2001:db8:100::3")},
          {address("2001:db8:100::ffff:ffff:ffff:fffe"), address("2001:db8:100::ffff:ffff:ffff:ffff")}}});
    leases.pools.push_back({"gipam-global/198.19.0.0/24", prefix("198.19.0.0/24"), std::nullopt, {}, std::nullopt, {}});
    return leases;
}

TEST(LeaseCodecTest, EncodeThenDecodeRoundTrips) {
    const Leases leases = sampleLeases();
    EXPECT_EQ(decodeLeases(encodeLeases(leases)), leases);
}

TEST(LeaseCodecTest, CoolingAddressesRoundTripToTheMillisecond) {
    Leases leases = sampleLeases();
    const auto until = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796652300123));
    leases.pools[0].cooling = {{address("198.18.0.5"), until}, {address("198.18.0.7"), until + std::chrono::hours(1)}};
    const auto text = encodeLeases(leases);
    EXPECT_NE(text.find(R"("cooling": {"198.18.0.5": "2026-12-07T14:05:00.123Z")"), std::string::npos) << text;
    EXPECT_EQ(decodeLeases(text), leases);
    EXPECT_EQ(formatTime(until), "2026-12-07T14:05:00.123Z");
    EXPECT_EQ(parseTime("2026-12-07T14:05:00.123Z"), until);
    EXPECT_EQ(parseTime("2026-12-07 14:05:00"), std::nullopt);
}

TEST(LeaseCodecTest, ABadCoolingEntryNamesTheAddressAndTheProblem) {
    auto message = formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "cooling": {"198.18.4.5": "soon"})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].cooling.198.18.4.5", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "expected a UTC time", message);
    message = formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "cooling": {"198.18.5.5": "2026-12-07T14:05:00.123Z"})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "outside pool", message);
    message = formatErrorOf(fileWithPool(
        R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1-198.18.4.9"], "cooling": {"198.18.4.5": "2026-12-07T14:05:00.123Z"})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "also held", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "expected an object",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "cooling": ["198.18.4.5"])")));
}

TEST(LeaseCodecTest, ExclusionsRoundTripAsPrefixesWhereTheyAreOne) {
    Leases leases = sampleLeases();
    leases.excluded = {{address("198.18.0.0"), address("198.18.0.255")},
                       {address("198.18.9.5"), address("198.18.9.9")},
                       {address("2001:db8:100::7"), address("2001:db8:100::7")}};
    const auto text = encodeLeases(leases);
    EXPECT_NE(text.find(R"("exclude": ["198.18.0.0/24", "198.18.9.5-198.18.9.9", "2001:db8:100::7"])"), std::string::npos)
        << text;
    EXPECT_EQ(decodeLeases(text), leases);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "exclude[0]",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "exclude": ["198.18.0.9-198.18.0.1"]})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "exclude[1]",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "exclude": ["198.18.0.1", "banana"]})"));
}

TEST(LeaseCodecTest, EmptyLeasesRoundTrip) {
    const Leases empty;
    EXPECT_EQ(decodeLeases(encodeLeases(empty)), empty);
    const Leases onlyV6{std::nullopt, Supernet{prefix("2001:db8::/48"), 64}, {}};
    EXPECT_EQ(decodeLeases(encodeLeases(onlyV6)), onlyV6);
}

TEST(LeaseCodecTest, EncodingIsStable) {
    const Leases leases = sampleLeases();
    const std::string once = encodeLeases(leases);
    EXPECT_EQ(encodeLeases(decodeLeases(once)), once);
}

TEST(LeaseCodecTest, ExampleFileDecodesWithBothFamilies) {
    std::ifstream in(GIPAM_SOURCE_DIR "/leases.example.json");
    ASSERT_TRUE(in) << "cannot open " GIPAM_SOURCE_DIR "/leases.example.json";
    std::stringstream text;
    text << in.rdbuf();
    const Leases leases = decodeLeases(text.str());
    int v4 = 0, v6 = 0;
    for (const auto& pool : leases.pools) (pool.prefix.family() == ip::Family::V4 ? v4 : v6)++;
    EXPECT_GE(v4, 1);
    EXPECT_GE(v6, 1);
    EXPECT_EQ(decodeLeases(encodeLeases(leases)), leases);
}

TEST(LeaseCodecTest, DecodesTheGoGipamFormat) {
    const std::string goFile = R"({
  "v6": "2001:db8:100::/56",
  "v6ab": 64,
  "v6idx": 1,
  "v4": "198.18.0.0/16",
  "v4ab": 24,
  "v4idx": 3,
  "allocated": [
    {"id": "hGk2J0aZbNq7Xw1e", "v": 4, "pool": "198.18.0.0/24", "idx": 11,
     "allocated": ["198.18.0.1", "198.18.0.3", "198.18.0.2", "198.18.0.10/24"], "free": ["198.18.0.4"]},
    {"id": "Qm9tX3b1LpR8sZ0c", "v": 6, "pool": "2001:db8:100::/64", "idx": 2,
     "allocated": ["2001:db8:100::1"], "free": null},
    {"id": "Zx8vW7uT6sR5qP4o", "v": 4, "pool": "198.18.2.0/24", "idx": 1, "allocated": null, "free": null}
  ],
  "free": [
    {"id": "aB3dE5fG7hJ9kL1m", "v": 4, "pool": "198.18.1.0/24", "idx": 1, "allocated": [], "free": []}
  ]
})";
    const Leases leases = decodeLeases(goFile);
    EXPECT_EQ(leases.v4, (Supernet{prefix("198.18.0.0/16"), 24}));
    EXPECT_EQ(leases.v6, (Supernet{prefix("2001:db8:100::/56"), 64}));
    ASSERT_EQ(leases.pools.size(), 3u);
    EXPECT_EQ(leases.pools[0].id, "hGk2J0aZbNq7Xw1e");
    EXPECT_EQ(leases.pools[0].prefix, prefix("198.18.0.0/24"));
    // Unordered Go addresses become sorted, merged runs; "/24" suffixes are dropped.
    EXPECT_EQ(leases.pools[0].addresses, (std::vector<AddressRun>{{address("198.18.0.1"), address("198.18.0.3")},
                                                                  {address("198.18.0.10"), address("198.18.0.10")}}));
    EXPECT_EQ(leases.pools[1].id, "Qm9tX3b1LpR8sZ0c");
    EXPECT_EQ(leases.pools[1].prefix, prefix("2001:db8:100::/64"));
    EXPECT_EQ(leases.pools[1].addresses,
              (std::vector<AddressRun>{{address("2001:db8:100::1"), address("2001:db8:100::1")}}));
    EXPECT_EQ(leases.pools[2].id, "Zx8vW7uT6sR5qP4o");
    EXPECT_TRUE(leases.pools[2].addresses.empty());
    // Released Go blocks are simply free: no pool for 198.18.1.0/24.
    for (const auto& pool : leases.pools) EXPECT_NE(pool.prefix, prefix("198.18.1.0/24"));
}

TEST(LeaseCodecTest, GoGipamFileWithoutIpv6KeepsOnlyIpv4) {
    const Leases leases =
        decodeLeases(R"({"v6": "", "v6ab": 0, "v4": "198.18.0.0/16", "v4ab": 24, "allocated": null, "free": null})");
    EXPECT_EQ(leases.v6, std::nullopt);
    EXPECT_EQ(leases.v4, (Supernet{prefix("198.18.0.0/16"), 24}));
    EXPECT_TRUE(leases.pools.empty());
}

TEST(LeaseCodecTest, GoGipamAddressOutsideItsPoolNamesTheField) {
    const std::string message = formatErrorOf(
        R"({"v4": "198.18.0.0/16", "v4ab": 24, "allocated": [{"id": "hGk2J0aZbNq7Xw1e", "v": 4,
            "pool": "198.18.0.0/24", "allocated": ["198.18.0.1", "198.18.7.1"]}]})");
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "allocated[0].allocated[1]", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.7.1", message);
}

TEST(LeaseCodecTest, InvalidJsonNamesLineAndColumn) {
    // The missing comma is noticed at the start of line 4 ("v4ab"); line 6 is the end of the text.
    const std::string text = "{\n  \"format\": 1,\n  \"v4\": \"198.18.0.0/16\"\n  \"v4ab\": 24,\n  \"pools\": []\n}\n";
    const std::string message = formatErrorOf(text);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "line 4, column", message);
}

TEST(LeaseCodecTest, InvalidJsonOnTheFirstLineNamesLineOne) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "line 1, column",
                        formatErrorOf("{\"format\": 1,, \"pools\": []}\n\n\n"));
}

TEST(LeaseCodecTest, ErrorAtTheEndOfALineNamesThatLine) {
    // An unterminated string: the parser stops at the newline that ends line 3. Reporting
    // "line 4, column 0" sends the user to the wrong line (and columns count from 1).
    const std::string text = "{\n  \"format\": 1,\n  \"v4\": \"198.18.0.0/16,\n  \"v4ab\": 24\n}\n";
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "line 3, column", formatErrorOf(text))
        << "the position must be that of the offending byte";
}

TEST(LeaseCodecTest, TruncatedJsonIsAnError) {
    const std::string full = encodeLeases(sampleLeases());
    EXPECT_THROW(decodeLeases(full.substr(0, full.size() / 2)), FormatError);
    EXPECT_THROW(decodeLeases(""), FormatError);
}

TEST(LeaseCodecTest, TopLevelMustBeAnObject) {
    EXPECT_THROW(decodeLeases("[]"), FormatError);
    EXPECT_THROW(decodeLeases("\"leases\""), FormatError);
    EXPECT_THROW(decodeLeases("null"), FormatError);
}

TEST(LeaseCodecTest, MissingOrUnknownFormatIsRefused) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "format", formatErrorOf(R"({"v4": "198.18.0.0/16", "v4ab": 24})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "format", formatErrorOf(R"({"format": 2, "pools": []})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "format", formatErrorOf(R"({"format": "1", "pools": []})"));
}

TEST(LeaseCodecTest, NullFormatNamesTheField) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "format", formatErrorOf(R"({"format": null, "pools": []})"))
        << "Poco's \"Can not convert empty value\" must not escape";
}

TEST(LeaseCodecTest, WrongTypesNameTheField) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4", formatErrorOf(R"({"format": 1, "v4": 5})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4ab",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": "24"})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools", formatErrorOf(R"({"format": 1, "pools": {}})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0]", formatErrorOf(R"({"format": 1, "pools": [5]})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].id",
                        formatErrorOf(R"({"format": 1, "pools": [{"id": 5, "pool": "198.18.0.0/24"}]})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": "198.18.4.1")")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[0]",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": [1])")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].options",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "options": ["a"])")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].options.v4ab",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "options": {"v4ab": 26})")));
}

TEST(LeaseCodecTest, MissingOrEmptyPoolFieldsAreNamed) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"pool\" is missing", formatErrorOf(fileWithPool(R"("x": 1)")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].id",
                        formatErrorOf(R"({"format": 1, "pools": [{"id": "", "pool": "198.18.0.0/24"}]})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"id\" is missing",
                        formatErrorOf(R"({"format": 1, "pools": [{"pool": "198.18.0.0/24"}]})"));
}

TEST(LeaseCodecTest, BadPrefixesNameTheField) {
    const std::string hostBits = formatErrorOf(R"({"format": 1, "pools": [{"id": "a", "pool": "198.18.0.0/24"},
                                                                          {"id": "b", "pool": "198.18.4.1/24"}]})");
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[1].pool", hostBits);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.4.0/24", hostBits);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/33", "v4ab": 34})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4",
                        formatErrorOf(R"({"format": 1, "v4": "2001:db8::/48", "v4ab": 64})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v6",
                        formatErrorOf(R"({"format": 1, "v6": "198.18.0.0/16", "v6ab": 24})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].subPool",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "subPool": "banana")")));
}

TEST(LeaseCodecTest, BlockLengthMustFitTheSupernet) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4ab",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 16})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4ab",
                        formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 33})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v4ab", formatErrorOf(R"({"format": 1, "v4": "198.18.0.0/16"})"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "v6ab",
                        formatErrorOf(R"({"format": 1, "v6": "2001:db8::/48", "v6ab": -1})"));
}

TEST(LeaseCodecTest, AddressOutsideThePoolNamesItsIndex) {
    const std::string message =
        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1", "198.18.5.1"])"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[1]", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.5.1", message);
    EXPECT_PRED_FORMAT2(
        ::testing::IsSubstring, "pools[0].addresses[0]",
        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1-198.18.5.1"])")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[0]",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["2001:db8::1"])")));
}

TEST(LeaseCodecTest, GarbageAddressNamesItsIndex) {
    const std::string message = formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["banana"])"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[0]", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "banana", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[0]",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1-"])")));
}

TEST(LeaseCodecTest, DescendingRangeIsRefused) {
    const std::string message =
        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1", "198.18.4.9-198.18.4.3"])"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[1]", message);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.4.9-198.18.4.3", message);
}

TEST(LeaseCodecTest, EntriesOutOfOrderOrOverlappingAreRefused) {
    EXPECT_PRED_FORMAT2(
        ::testing::IsSubstring, "pools[0].addresses[1]",
        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.9", "198.18.4.3"])")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].addresses[1]",
                        formatErrorOf(fileWithPool(
                            R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1-198.18.4.9", "198.18.4.5"])")));
}

TEST(LeaseCodecTest, AdjacentEntriesMergeIntoOneRun) {
    const Leases leases = decodeLeases(
        fileWithPool(R"("pool": "198.18.4.0/24", "addresses": ["198.18.4.1", "198.18.4.2-198.18.4.5", "198.18.4.7"])"));
    ASSERT_EQ(leases.pools.size(), 1u);
    EXPECT_EQ(leases.pools[0].addresses, (std::vector<AddressRun>{{address("198.18.4.1"), address("198.18.4.5")},
                                                                  {address("198.18.4.7"), address("198.18.4.7")}}));
}

TEST(LeaseCodecTest, SubPoolAndNextMustLieInThePool) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].subPool",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "subPool": "198.18.5.0/25")")));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].next",
                        formatErrorOf(fileWithPool(R"("pool": "198.18.4.0/24", "next": "198.18.5.7")")));
}

TEST(LeaseCodecTest, UnknownKeysAreIgnored) {
    const Leases leases = decodeLeases(R"({"format": 1, "comment": "hand edited", "v4": "198.18.0.0/16", "v4ab": 24,
                                           "pools": [{"id": "p", "pool": "198.18.4.0/24", "owner": "ops"}]})");
    ASSERT_EQ(leases.pools.size(), 1u);
    EXPECT_EQ(leases.pools[0].prefix, prefix("198.18.4.0/24"));
}

}  // namespace
}  // namespace gipam::store
