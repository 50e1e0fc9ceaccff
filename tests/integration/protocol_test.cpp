// The plugin protocol over a real Unix socket, as dockerd speaks it.
#include <set>
#include <thread>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

class ProtocolTest : public GipamTest {
protected:
    void SetUp() override { start(); }
};

TEST_F(ProtocolTest, HandshakeAnswersFromConstants) {
    auto activate = post("/Plugin.Activate");
    EXPECT_EQ(activate.status, 200);
    EXPECT_EQ(activate.body, R"({"Implements":["IpamDriver"]})");
    EXPECT_EQ(activate.headers["content-type"], "application/vnd.docker.plugins.v1.2+json");

    auto capabilities = post("/IpamDriver.GetCapabilities");
    EXPECT_EQ(capabilities.body, R"({"RequiresMACAddress":false,"RequiresRequestReplay":false})");

    auto spaces = post("/IpamDriver.GetDefaultAddressSpaces");
    EXPECT_EQ(spaces.status, 200);
    const auto local = jsonField(spaces.body, "LocalDefaultAddressSpace");
    const auto global = jsonField(spaces.body, "GlobalDefaultAddressSpace");
    EXPECT_FALSE(local.empty());
    EXPECT_FALSE(global.empty());
    EXPECT_NE(local, global);
}

TEST_F(ProtocolTest, DualStackNetworkLifecycle) {
    const auto v4 = post("/IpamDriver.RequestPool", requestPoolBody());
    ASSERT_EQ(v4.status, 200) << v4.body;
    EXPECT_EQ(v4.body, R"({"PoolID":"gipam-local/198.18.0.0/24","Pool":"198.18.0.0/24","Data":{}})");
    const auto gateway = post(
        "/IpamDriver.RequestAddress",
        requestAddressBody("gipam-local/198.18.0.0/24", "", R"({"RequestAddressType":"com.docker.network.gateway"})"));
    EXPECT_EQ(gateway.body, R"({"Address":"198.18.0.1/24","Data":{}})");

    const auto v6Pool = requestPool("", true);
    EXPECT_EQ(v6Pool, "gipam-local/2001:db8:100::/64");
    EXPECT_EQ(requestAddress(v6Pool), "2001:db8:100::1/64");
    EXPECT_EQ(requestAddress(v6Pool), "2001:db8:100::2/64");
    EXPECT_EQ(requestAddress("gipam-local/198.18.0.0/24"), "198.18.0.2/24");

    EXPECT_EQ(post("/IpamDriver.ReleaseAddress", releaseAddressBody(v6Pool, "2001:db8:100::2")).body, "{}");
    EXPECT_EQ(post("/IpamDriver.ReleasePool", releasePoolBody(v6Pool)).body, "{}");
    EXPECT_EQ(post("/IpamDriver.ReleasePool", releasePoolBody("gipam-local/198.18.0.0/24")).body, "{}");
    // Released blocks come back lowest first.
    EXPECT_EQ(requestPool(), "gipam-local/198.18.0.0/24");
}

TEST_F(ProtocolTest, DistinctBlockOnEveryCallWhileHeld) {
    std::set<std::string> pools;
    for (int i = 0; i < 20; ++i) pools.insert(requestPool());
    EXPECT_EQ(pools.size(), 20u);
}

TEST_F(ProtocolTest, RefusalsAre500WithErrNamingTheValue) {
    const auto pool = requestPool();
    requestAddress(pool, "198.18.0.9");
    const struct {
        std::string path, body, mention;
    } cases[] = {
        {"/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.0.9"), "198.18.0.9 is already allocated"},
        {"/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.1.9"), "198.18.1.9 is outside pool"},
        {"/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.0.255"), "broadcast"},
        {"/IpamDriver.RequestAddress", requestAddressBody(pool, "2001:db8:100::5"), "is IPv6 but pool"},
        {"/IpamDriver.RequestAddress", requestAddressBody(pool, "fe80::1%eth0"), "fe80::1%eth0"},
        {"/IpamDriver.RequestAddress", requestAddressBody("nope"), "unknown pool ID 'nope'"},
        {"/IpamDriver.RequestPool", requestPoolBody("198.18.0.0/23"), "198.18.0.0/24"},
        {"/IpamDriver.RequestPool", requestPoolBody("198.18.9.1/24"), "did you mean 198.18.9.0/24"},
        {"/IpamDriver.RequestPool", requestPoolBody("198.18.9.0/33"), "198.18.9.0/33"},
        {"/IpamDriver.RequestPool", requestPoolBody("198.18.9.0/24", false, "198.18.10.0/25"), "198.18.10.0/25"},
        {"/IpamDriver.RequestPool", R"({"AddressSpace":"other","Pool":"","SubPool":"","Options":null,"V6":false})",
         "unknown address space 'other'"},
        {"/IpamDriver.ReleasePool", releasePoolBody("gipam-local/198.18.99.0/24"), "gipam-local/198.18.99.0/24"},
    };
    for (const auto& c : cases) {
        const auto response = post(c.path, c.body);
        EXPECT_EQ(response.status, 500) << c.body;
        EXPECT_NE(jsonField(response.body, "Err").find(c.mention), std::string::npos)
            << c.body << " -> " << response.body;
    }
}

TEST_F(ProtocolTest, EmptyOrNullAddressSpaceIsTheLocalOne) {
    // What a dockerd that first registered the Go gipam keeps sending until it restarts.
    const auto empty = post("/IpamDriver.RequestPool",
                            R"({"AddressSpace":"","Pool":"","SubPool":"","Options":{},"V6":false})");
    EXPECT_EQ(empty.status, 200) << empty.body;
    EXPECT_EQ(jsonField(empty.body, "PoolID"), "gipam-local/198.18.0.0/24");
    const auto null = post("/IpamDriver.RequestPool",
                           R"({"AddressSpace":null,"Pool":null,"SubPool":null,"Options":null,"V6":null})");
    EXPECT_EQ(jsonField(null.body, "PoolID"), "gipam-local/198.18.1.0/24") << null.body;
}

TEST_F(ProtocolTest, SubnetDecidesTheFamily) {
    // swarmkit sends V6 false with IPv6 subnets.
    const auto v6 = post("/IpamDriver.RequestPool", requestPoolBody("2001:db8:5::/64", false));
    EXPECT_EQ(jsonField(v6.body, "Pool"), "2001:db8:5::/64") << v6.body;
    const auto v4 = post("/IpamDriver.RequestPool", requestPoolBody("198.19.5.0/24", true));
    EXPECT_EQ(jsonField(v4.body, "Pool"), "198.19.5.0/24") << v4.body;
}

TEST_F(ProtocolTest, ReleaseOfAnAddressNotHeldSucceeds) {
    const auto pool = requestPool();
    EXPECT_EQ(post("/IpamDriver.ReleaseAddress", releaseAddressBody(pool, "198.18.0.77")).status, 200);
}

TEST_F(ProtocolTest, UndecodableInputIs400AndUnknownPathIs404) {
    EXPECT_EQ(post("/IpamDriver.RequestPool", "{not json").status, 400);
    EXPECT_EQ(post("/IpamDriver.RequestPool", R"({"Pool":5})").status, 400);
    EXPECT_EQ(post("/IpamDriver.RequestPool", "[]").status, 400);
    const auto unknown = post("/IpamDriver.Frobnicate", "{}");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_FALSE(jsonField(unknown.body, "Err").empty());
}

TEST_F(ProtocolTest, NonPostMethodIsRefused) {
    auto connection = HttpConnection::unix(socket());
    connection.sendRaw("GET /Plugin.Activate HTTP/1.1\r\nHost: \r\n\r\n");
    const auto response = connection.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 405);
}

TEST_F(ProtocolTest, KeepAliveServesManyRequestsOnOneConnection) {
    auto connection = HttpConnection::unix(socket());
    const auto pool = jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "PoolID");
    for (int i = 1; i <= 50; ++i) {
        const auto response = connection.post("/IpamDriver.RequestAddress", requestAddressBody(pool));
        EXPECT_EQ(jsonField(response.body, "Address"), "198.18.0." + std::to_string(i) + "/24");
    }
}

TEST_F(ProtocolTest, ConcurrentClientsGetDistinctAddresses) {
    const auto pool = requestPool("", true);
    std::vector<std::vector<std::string>> granted(8);
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&, c] {
            auto connection = HttpConnection::unix(socket());
            for (int i = 0; i < 25; ++i) {
                granted[c].push_back(
                    jsonField(connection.post("/IpamDriver.RequestAddress", requestAddressBody(pool)).body, "Address"));
            }
        });
    }
    for (auto& client : clients) client.join();
    std::set<std::string> unique;
    for (const auto& list : granted) unique.insert(list.begin(), list.end());
    EXPECT_EQ(unique.size(), 200u);
    EXPECT_FALSE(unique.count(""));
}

TEST_F(ProtocolTest, BodyOverOneMebibyteIsRefused) {
    auto connection = HttpConnection::unix(socket());
    const std::string body(2 << 20, ' ');
    connection.sendRaw("POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n");
    const auto response = connection.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    // The daemon still serves others.
    EXPECT_EQ(post("/Plugin.Activate").status, 200);
}

}  // namespace
}  // namespace gipam::testing
