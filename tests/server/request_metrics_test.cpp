// What /metrics counts of requests: a bounded set of endpoints and results.
#include "server/request_metrics.h"

#include <gtest/gtest.h>

namespace gipam::server {
namespace {

TEST(RequestMetricsTest, PathsMapToABoundedSetOfEndpoints) {
    EXPECT_EQ(endpointOf("/IpamDriver.RequestPool"), 3u);
    EXPECT_EQ(endpointOf("/Plugin.Activate"), 0u);
    EXPECT_EQ(endpointOf("/anything/else?x"), kEndpoints - 1);
    EXPECT_EQ(resultOf(200), 0u);
    EXPECT_EQ(resultOf(500), 1u);
    EXPECT_EQ(resultOf(413), 2u);
}

TEST(RequestMetricsTest, CountsByEndpointAndResult) {
    RequestMetrics metrics;
    metrics.count("/IpamDriver.RequestAddress", 500, 0.001);
    metrics.count("/nope", 404, 0.001);
    std::string out;
    metrics.appendTo(out, "1.2");
    EXPECT_NE(out.find("gipam_requests_total{endpoint=\"IpamDriver.RequestAddress\",result=\"refused\"} 1\n"),
              std::string::npos);
    EXPECT_NE(out.find("gipam_requests_total{endpoint=\"other\",result=\"not_found\"} 1\n"), std::string::npos);
    EXPECT_NE(out.find("gipam_build_info{version=\"1.2\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace gipam::server
