#include "ipam/pool_options.h"

#include <gtest/gtest.h>

#include "ipam/service.h"

namespace gipam::ipam {
namespace {

using ::testing::IsSubstring;

const std::string kSerial(kSerialOption);

// The message of the IpamError that parsing `options` throws, or "" (and a test failure) if none.
std::string errorOf(const std::map<std::string, std::string>& options) {
    try {
        PoolOptions::parse(options);
    } catch (const IpamError& error) {
        return error.what();
    }
    ADD_FAILURE() << "options were accepted";
    return {};
}

TEST(PoolOptionsTest, NoOptionsMeansDefaults) {
    const auto options = PoolOptions::parse({});
    EXPECT_EQ(options.v4BlockLength, std::nullopt);
    EXPECT_EQ(options.v6BlockLength, std::nullopt);
    EXPECT_FALSE(options.serial);
}

TEST(PoolOptionsTest, DurationsAreReadAsGoWritesThem) {
    using std::chrono::milliseconds;
    EXPECT_EQ(parseDuration("0"), milliseconds(0));
    EXPECT_EQ(parseDuration("0s"), milliseconds(0));
    EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
    EXPECT_EQ(parseDuration("30s"), milliseconds(30000));
    EXPECT_EQ(parseDuration("1.5s"), milliseconds(1500));
    EXPECT_EQ(parseDuration("5m"), milliseconds(300000));
    EXPECT_EQ(parseDuration("1h30m"), milliseconds(5400000));
    for (const auto* bad : {"", "30", "s", "-1s", "1d", "1h ", "1 h", "forever", "nans", "infh"}) {
        EXPECT_EQ(parseDuration(bad), std::nullopt) << bad;
    }
}

TEST(PoolOptionsTest, AReuseDelayIsADurationUpToADay) {
    EXPECT_EQ(PoolOptions::parse({{std::string(kReuseDelayOption), "90s"}}).reuseDelay, std::chrono::seconds(90));
    EXPECT_EQ(PoolOptions::parse({}).reuseDelay, std::nullopt);
    EXPECT_PRED_FORMAT2(IsSubstring, "gipam.reuse-delay=2d is not a reuse delay",
                        errorOf({{std::string(kReuseDelayOption), "2d"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "gipam.reuse-delay=25h", errorOf({{std::string(kReuseDelayOption), "25h"}}));
}

TEST(PoolOptionsTest, BlockLengthsAreReadPerFamily) {
    const auto options = PoolOptions::parse({{"v4ab", "26"}, {"v6ab", "60"}});
    EXPECT_EQ(options.v4BlockLength, 26);
    EXPECT_EQ(options.v6BlockLength, 60);
    EXPECT_EQ(options.blockLength(ip::Family::V4), 26);
    EXPECT_EQ(options.blockLength(ip::Family::V6), 60);
    EXPECT_EQ(PoolOptions::parse({{"v4ab", "26"}}).blockLength(ip::Family::V6), std::nullopt);
}

TEST(PoolOptionsTest, BlockLengthsAcceptTheirWholeRange) {
    EXPECT_EQ(PoolOptions::parse({{"v4ab", "1"}}).v4BlockLength, 1);
    EXPECT_EQ(PoolOptions::parse({{"v4ab", "30"}}).v4BlockLength, 30);
    EXPECT_EQ(PoolOptions::parse({{"v6ab", "126"}}).v6BlockLength, 126);
}

TEST(PoolOptionsTest, BlockLengthsThatHoldNoHostsAreRefused) {
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab=31", errorOf({{"v4ab", "31"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab=32", errorOf({{"v4ab", "32"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v6ab=127", errorOf({{"v6ab", "127"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v6ab=128", errorOf({{"v6ab", "128"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab=0", errorOf({{"v4ab", "0"}}));
}

TEST(PoolOptionsTest, BlockLengthsThatAreNotNumbersAreRefused) {
    for (const char* value : {"", "abc", "24x", " 24", "24 ", "-24", "+24", "0x18", "2.5", "99999999999999999999"}) {
        EXPECT_PRED_FORMAT2(IsSubstring, "v4ab", errorOf({{"v4ab", value}})) << "'" << value << "'";
    }
    EXPECT_PRED_FORMAT2(IsSubstring, "v6ab=sixty-four", errorOf({{"v6ab", "sixty-four"}}));
}

TEST(PoolOptionsTest, SerialIsTrueOrFalse) {
    EXPECT_TRUE(PoolOptions::parse({{kSerial, "true"}}).serial);
    EXPECT_FALSE(PoolOptions::parse({{kSerial, "false"}}).serial);
}

TEST(PoolOptionsTest, SerialRefusesOtherValuesNamingThem) {
    for (const char* value : {"", "yes", "1", "True", "TRUE", "on"}) {
        const auto message = errorOf({{kSerial, value}});
        EXPECT_PRED_FORMAT2(IsSubstring, kSerial + "=" + value, message);
    }
}

TEST(PoolOptionsTest, ExclusionsArePrefixesAddressesAndRangesOfEitherFamily) {
    const auto parsed = PoolOptions::parse({{std::string(kExcludeOption),
                                             "198.18.0.0/28, 198.18.0.100-198.18.0.120,198.18.0.250,2001:db8::/126"}});
    ASSERT_EQ(parsed.exclude.size(), 4u);
    EXPECT_EQ(parsed.exclude[0].last, ip::Address::parse("198.18.0.15"));
    EXPECT_EQ(parsed.exclude[1].first, ip::Address::parse("198.18.0.100"));
    EXPECT_EQ(parsed.exclude[2].first, parsed.exclude[2].last);
    EXPECT_EQ(parsed.exclude[3].last, ip::Address::parse("2001:db8::3"));
}

TEST(PoolOptionsTest, BadExclusionsAreRefusedNamingThem) {
    const std::string key(kExcludeOption);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.300", errorOf({{key, "198.18.0.300"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.5/24", errorOf({{key, "198.18.0.5/24"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "FIRST <= LAST", errorOf({{key, "198.18.0.9-198.18.0.1"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "FIRST <= LAST", errorOf({{key, "198.18.0.1-2001:db8::1"}}));
}

TEST(PoolOptionsTest, UnknownKeysAreIgnored) {
    const auto options = PoolOptions::parse({{"com.example.team", "blue"}, {"V4AB", "nonsense"}, {"v4ab", "25"}});
    EXPECT_EQ(options.v4BlockLength, 25);
    EXPECT_EQ(options.v6BlockLength, std::nullopt);
    EXPECT_FALSE(options.serial);
}

TEST(PoolOptionsTest, MaxBlockLengthLeavesTwoHosts) {
    static_assert(maxBlockLength(ip::Family::V4) == 30);
    static_assert(maxBlockLength(ip::Family::V6) == 126);
}

}  // namespace
}  // namespace gipam::ipam
