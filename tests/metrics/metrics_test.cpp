// The exposition's numbers: cumulative buckets, and usage that agrees with the leases.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include "ipam/usage.h"

namespace gipam::metrics {
namespace {

TEST(HistogramTest, BucketsAreCumulativeWithSumAndCount) {
    Histogram<kBatchBuckets.size()> histogram(kBatchBuckets);  // 1, 2, 4, 8, ... 128
    for (const double value : {1.0, 3.0, 3.0, 200.0}) histogram.observe(value);
    std::string out;
    histogram.appendTo(out, "x", "endpoint=\"a\"");
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"1\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"2\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"4\"} 3\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"128\"} 3\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_count{endpoint=\"a\"} 4\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_sum{endpoint=\"a\"} 207\n"), std::string::npos) << out;
}

TEST(EndpointTest, PathsMapToABoundedSet) {
    EXPECT_EQ(endpointOf("/IpamDriver.RequestPool"), Endpoint::RequestPool);
    EXPECT_EQ(endpointOf("/Plugin.Activate"), Endpoint::Activate);
    EXPECT_EQ(endpointOf("/anything/else?x"), Endpoint::Other);
    EXPECT_EQ(resultOf(200), 0u);
    EXPECT_EQ(resultOf(500), 1u);
    EXPECT_EQ(resultOf(413), 2u);
}

TEST(UsageTest, CountsBlocksAndAddressesOfTheSupernet) {
    store::Leases leases{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};
    leases.pools.push_back({"a", ip::Prefix::parse("198.18.0.0/24"), std::nullopt, {}, std::nullopt,
                            {{ip::Address::parse("198.18.0.1"), ip::Address::parse("198.18.0.4")}}});
    leases.pools.push_back({"b", ip::Prefix::parse("198.18.1.0/26"), std::nullopt, {}, std::nullopt, {}});
    leases.pools.push_back({"outside", ip::Prefix::parse("198.19.0.0/24"), std::nullopt, {}, std::nullopt,
                            {{ip::Address::parse("198.19.0.1"), ip::Address::parse("198.19.0.1")}}});
    const auto usage = ipam::usageOf(leases);
    ASSERT_EQ(usage.supernets.size(), 1u);
    EXPECT_EQ(usage.supernets[0].blocks, 256u);
    EXPECT_DOUBLE_EQ(usage.supernets[0].blocksHeld, 1.25);
    EXPECT_EQ(usage.supernets[0].pools, 2u);
    EXPECT_EQ(usage.supernets[0].addressesHeld, 4u);
    EXPECT_EQ(usage.pools[0].usable, 254u);
    EXPECT_EQ(usage.pools[1].usable, 62u);
}

}  // namespace
}  // namespace gipam::metrics
