// What the plugin server lets in on TCP: requests as dockerd sends them, not a web page's.
#include "server/request_handler.h"

#include <gtest/gtest.h>

namespace gipam::server {
namespace {

const std::vector<std::string> kHosts{"", kDockerUnixHost, "127.0.0.1:9070"};

Poco::Net::HTTPRequest post(const std::string& host) {
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/IpamDriver.RequestPool");
    request.setHost(host);
    return request;
}

TEST(RequestFilterTest, DockerdsRequestsGetIn) {
    for (const auto& host : kHosts) EXPECT_EQ(foreignRequest(post(host), kHosts), "") << host;
    Poco::Net::HTTPRequest noHost(Poco::Net::HTTPRequest::HTTP_POST, "/IpamDriver.RequestPool");
    EXPECT_EQ(foreignRequest(noHost, kHosts), "");
}

TEST(RequestFilterTest, AWebPagesRequestIsRefusedNamingWhy) {
    auto origin = post("127.0.0.1:9070");
    origin.set("Origin", "http://evil.example");
    EXPECT_NE(foreignRequest(origin, kHosts).find("Origin http://evil.example"), std::string::npos);
    auto fetch = post("127.0.0.1:9070");
    fetch.set("sec-fetch-mode", "no-cors");
    EXPECT_NE(foreignRequest(fetch, kHosts).find("sec-fetch-mode"), std::string::npos);
    // DNS rebinding: the attacker's name in Host.
    EXPECT_NE(foreignRequest(post("evil.example:9070"), kHosts).find("is not gipam's address"), std::string::npos);
}

}  // namespace
}  // namespace gipam::server
