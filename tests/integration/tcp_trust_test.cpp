// TCP mode lets in what dockerd sends and nothing a web page can: a page's request carries Origin
// and Sec-Fetch-* headers, a DNS-rebinding one the attacker's Host (../shared/ipam-protocol.md §1.6).
// And a flood of idle connections cannot starve the lease file of descriptors.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "integration/fixture.h"
#include "integration/lease_snapshot.h"

namespace gipam::testing {
namespace {

class TcpTrustTest : public GipamTest {
protected:
    void SetUp() override {
        port_ = freeLoopbackPort();
        gipam_ = std::make_unique<GipamProcess>(arguments({"-address", "127.0.0.1:" + std::to_string(port_)}),
                                                dir_ / "gipam.log", std::nullopt);
        const auto spec = dir_ / "spec" / "gipam.spec";
        for (int i = 0; i < 500 && !std::filesystem::exists(spec); ++i) usleep(10000);
        ASSERT_TRUE(std::filesystem::exists(spec)) << gipam_->log();
    }
    // POST with exactly these extra header lines, on a fresh connection.
    HttpResponse postWith(const std::string& path, const std::string& body, const std::string& headers) {
        auto connection = HttpConnection::tcp(port_);
        const std::string payload = body + "\n";
        connection.sendRaw("POST " + path + " HTTP/1.1\r\n" + headers + "Content-Length: " +
                           std::to_string(payload.size()) + "\r\n\r\n" + payload);
        auto response = connection.readResponse();
        if (!response) throw std::runtime_error("no response to " + path);
        return *response;
    }
    int port_ = 0;
};

TEST_F(TcpTrustTest, WhatDockerdSendsGetsIn) {
    const std::string address = "127.0.0.1:" + std::to_string(port_);
    for (const auto& host : std::vector<std::string>{"Host: \r\n", "Host: plugin.moby.localhost\r\n", "Host: " + address + "\r\n"}) {
        const auto response = postWith("/Plugin.Activate", "", host + "User-Agent: Go-http-client/1.1\r\n");
        EXPECT_EQ(response.status, 200) << host << response.body;
    }
}

TEST_F(TcpTrustTest, WebPagesAndForeignHostsAreRefusedAndChangeNothing) {
    auto connection = HttpConnection::tcp(port_);
    const auto pool = jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "PoolID");
    ASSERT_FALSE(pool.empty());
    const std::string address = "127.0.0.1:" + std::to_string(port_);
    // The request of issue "Only Docker gets in", as any web page can send it, and its variants.
    const std::string attacks[] = {
        "Host: " + address + "\r\nOrigin: https://evil.example\r\nContent-Type: text/plain\r\n",
        "Host: attacker.example\r\nContent-Type: text/plain\r\n",
        "Host: " + address + "\r\nSec-Fetch-Mode: no-cors\r\n",
        "Host: " + address + "\r\norigin: null\r\n",
    };
    for (const auto& headers : attacks) {
        const auto response = postWith("/IpamDriver.ReleasePool", releasePoolBody(pool), headers);
        EXPECT_EQ(response.status, 403) << headers << response.body;
        EXPECT_FALSE(jsonField(response.body, "Err").empty()) << response.body;
    }
    EXPECT_EQ(readLeaseSnapshot(leaseFile()).pools.count(pool), 1u) << "a refused request released the pool";
    EXPECT_NE(gipam_->log().find("refused with 403"), std::string::npos) << gipam_->log();
}

TEST(OpenFileLimitTest, IdleConnectionFloodLeavesDescriptorsForTheLeaseFile) {
    TempDir dir;
    // As `prlimit --nofile=128:128`: gipam may raise its soft limit only up to the hard one.
    GipamProcess gipam(
        {"-v4", "198.18.0.0/16", "-file", (dir / "l.json").string(), "--socket", (dir / "s.sock").string()},
        dir / "log", dir / "s.sock", {}, [] {
            const rlimit low{128, 128};
            ::setrlimit(RLIMIT_NOFILE, &low);
        });
    ASSERT_TRUE(gipam.running()) << gipam.log();
    // Logged just after the socket starts accepting: wait for the line, not only the socket.
    for (int i = 0; i < 500 && gipam.log().find("connections at once") == std::string::npos; ++i) usleep(10000);
    EXPECT_NE(gipam.log().find("(32 connections at once)"), std::string::npos) << gipam.log();

    auto served = HttpConnection::unix(dir / "s.sock");
    const auto pool = jsonField(served.post("/IpamDriver.RequestPool", requestPoolBody()).body, "PoolID");
    ASSERT_FALSE(pool.empty()) << gipam.log();
    // More idle connections than gipam has descriptors; those beyond its caps wait in the backlog.
    std::vector<int> flood;
    for (int i = 0; i < 400; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const auto address = unixSocketAddress(dir / "s.sock");
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd);  // the backlog is full
            continue;
        }
        flood.push_back(fd);
    }
    usleep(200000);  // let gipam accept what it will
    // The kept-alive connection still gets a durable answer: the write has its descriptors.
    const auto granted = served.post("/IpamDriver.RequestAddress", requestAddressBody(pool));
    EXPECT_EQ(granted.status, 200) << granted.body << "\n" << gipam.log();
    for (const int fd : flood) ::close(fd);
    std::cout << "[ open files ] " << flood.size() << " idle connections, RequestAddress answered "
              << granted.status << std::endl;
    gipam.stop(SIGTERM);
}

}  // namespace
}  // namespace gipam::testing
