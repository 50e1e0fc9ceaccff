// Hostile HTTP on gipam's socket: garbage bytes, odd framing, methods other than POST, a 10 MB
// body, a client trickling one byte per second, 500 connections at once. Each must get a clear
// answer or a closed connection, within the 10 s request deadline; gipam must keep serving
// others meanwhile, and the lease file must not change. Bodies are in hostile_input_test.cpp.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <thread>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A raw client socket: sends exactly the bytes given and sees exactly when the server closes.
class RawClient {
public:
    explicit RawClient(const std::filesystem::path& socket) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        const auto address = unixSocketAddress(socket);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            throw std::runtime_error("cannot connect to " + socket.string() + ": " + std::strerror(errno));
        }
        // A server that neither reads nor closes must not hang the test.
        timeval timeout{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    }
    RawClient(RawClient&& other) noexcept : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
    RawClient(const RawClient&) = delete;
    ~RawClient() { close(); }

    int fd() const { return fd_; }
    void close() {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }
    /// False once the server has closed (or has not read for 10 s).
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

    struct Outcome {
        int status = 0;  // 0: no response
        std::string head;
        std::string body;
        bool closed = false;
        bool timedOut = false;
    };
    /// One response (Content-Length framed; no body for HEAD), or the server closing, or
    /// nothing within timeoutMs.
    Outcome receive(int timeoutMs, bool head = false) {
        Outcome outcome;
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        std::size_t headEnd;
        while ((headEnd = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(deadline, outcome)) return outcome;
        }
        outcome.head = buffer_.substr(0, headEnd);
        if (outcome.head.rfind("HTTP/", 0) == 0) outcome.status = std::atoi(outcome.head.c_str() + 9);
        std::size_t length = 0;
        const auto lengthAt = outcome.head.find("Content-Length: ");
        if (!head && lengthAt != std::string::npos) length = std::stoul(outcome.head.substr(lengthAt + 16));
        while (buffer_.size() < headEnd + 4 + length) {
            if (!fill(deadline, outcome)) break;
        }
        outcome.body = buffer_.substr(headEnd + 4, length);
        buffer_.erase(0, std::min(buffer_.size(), headEnd + 4 + length));
        return outcome;
    }
    /// Whether the server closes the connection within timeoutMs (data before that is dropped).
    bool closesWithin(int timeoutMs) {
        Outcome ignored;
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        while (fill(deadline, ignored)) buffer_.clear();
        return ignored.closed;
    }

private:
    bool fill(Clock::time_point deadline, Outcome& outcome) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{fd_, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
            outcome.timedOut = true;
            return false;
        }
        char chunk[65536];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            outcome.closed = true;
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_;
    std::string buffer_;
};

const std::string kActivate = "POST /Plugin.Activate HTTP/1.1\r\nHost: \r\nContent-Length: 0\r\n\r\n";

class HostileHttpTest : public GipamTest {
protected:
    void SetUp() override {
        start();
        pool_ = requestPool();
        requestAddress(pool_, "198.18.0.10");
        leaseBefore_ = readFile(leaseFile());
    }
    void TearDown() override {
        EXPECT_TRUE(gipam_->running()) << "gipam died";
        if (gipam_->running()) {
            EXPECT_EQ(post("/Plugin.Activate").status, 200) << "gipam stopped answering";
            EXPECT_EQ(readFile(leaseFile()), leaseBefore_) << "the lease file changed";
        }
        GipamTest::TearDown();
    }

    std::string pool_;
    std::string leaseBefore_;
};

struct RawCase {
    std::string name;
    std::string bytes;
    std::vector<int> statuses;  // a response with any of these, or
    bool mayClose = true;       // the connection closed without one
    int waitMs = 3000;          // within this
};

std::ostream& operator<<(std::ostream& out, const RawCase& c) {
    return out << c.name;
}

std::vector<RawCase> garbage() {
    const std::string post = "POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\n";
    const std::string body = requestPoolBody("198.19.5.0/24");
    std::string headers;
    for (int i = 0; i < 10000; ++i) headers += "X-Flood-" + std::to_string(i) + ": y\r\n";
    return {
        {"BinaryGarbage", std::string("\x00\x01\x02garbage\r\n\r\n", 14), {400}},
        {"MethodOnly", "POST\r\n\r\n", {400}},
        {"BlankLines", "\r\n\r\n\r\n", {400}},
        {"HundredKilobyteRequestLine", std::string(100000, 'A') + "\r\n\r\n", {400}},
        {"TwentyKilobyteUri", "POST /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n", {400, 404, 414}},
        {"TenThousandHeaders", "POST /Plugin.Activate HTTP/1.1\r\n" + headers + "\r\n", {400, 431}},
        {"HeaderWithoutColon", "POST /Plugin.Activate HTTP/1.1\r\nGarbage\r\nContent-Length: 0\r\n\r\n", {200, 400}},
        {"ContentLengthNotANumber", post + "Content-Length: abc\r\n\r\n" + body, {400}},
        {"ContentLengthNegative", post + "Content-Length: -5\r\n\r\n" + body, {400}},
        {"ContentLengthOfTwentyDigits", post + "Content-Length: 99999999999999999999\r\n\r\n" + body, {400, 413}},
        {"ContentLengthTwice", post + "Content-Length: 2\r\nContent-Length: 90\r\n\r\n" + body, {400}},
        {"BadChunkSize", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", {400}},
        {"UnknownHttpVersion", "POST /Plugin.Activate HTTP/9.9\r\nContent-Length: 0\r\n\r\n", {200, 400, 505}},
        {"Http10WithoutHost", "POST /Plugin.Activate HTTP/1.0\r\n\r\n", {200}, false},
        {"BareLineFeeds", "POST /Plugin.Activate HTTP/1.1\nContent-Length: 0\n\n", {200, 400}},
        // A TLS client waits for the server to speak: only the request deadline ends it.
        {"TlsClientHello",
         std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(200, '\x5a'),
         {400},
         true,
         15000},
    };
}

class GarbageTest : public HostileHttpTest, public ::testing::WithParamInterface<RawCase> {};

TEST_P(GarbageTest, GetsAClearAnswerOrAClosedConnection) {
    const auto& c = GetParam();
    RawClient client(socket());
    client.send(c.bytes);
    const auto began = Clock::now();
    const auto outcome = client.receive(c.waitMs);
    EXPECT_FALSE(outcome.timedOut) << "neither an answer nor a close within " << c.waitMs << " ms";
    if (outcome.status != 0) {
        EXPECT_NE(std::find(c.statuses.begin(), c.statuses.end(), outcome.status), c.statuses.end())
            << outcome.head << "\r\n\r\n"
            << outcome.body;
    } else {
        EXPECT_TRUE(c.mayClose && outcome.closed) << "no response: " << outcome.head;
    }
    std::cout << "[ garbage ] " << c.name << ": "
              << (outcome.status ? "HTTP " + std::to_string(outcome.status) : std::string("closed")) << " after "
              << secondsSince(began) << " s" << std::endl;
}

std::vector<RawCase> methods() {
    std::vector<RawCase> cases;
    for (const std::string method : {"GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FROBNICATE"}) {
        cases.push_back({method,
                         method + " /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\nContent-Length: " +
                             std::to_string(requestPoolBody().size()) + "\r\n\r\n" + requestPoolBody(),
                         {405},
                         false});
    }
    return cases;
}

class MethodTest : public HostileHttpTest, public ::testing::WithParamInterface<RawCase> {};

TEST_P(MethodTest, IsRefusedWith405NamingItAndAllowingPost) {
    const auto& c = GetParam();
    RawClient client(socket());
    client.send(c.bytes);
    const auto outcome = client.receive(3000, c.name == "HEAD");
    EXPECT_EQ(outcome.status, 405) << outcome.head;
    EXPECT_NE(outcome.head.find("Allow: POST"), std::string::npos) << outcome.head;
    if (c.name != "HEAD") {
        EXPECT_NE(jsonField(outcome.body, "Err").find("method " + c.name), std::string::npos) << outcome.body;
    }
}

std::string caseName(const ::testing::TestParamInfo<RawCase>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(HttpGarbage, GarbageTest, ::testing::ValuesIn(garbage()), caseName);
INSTANTIATE_TEST_SUITE_P(UnknownMethods, MethodTest, ::testing::ValuesIn(methods()), caseName);

TEST_F(HostileHttpTest, PipelinedRequestsAreAnsweredInOrder) {
    RawClient client(socket());
    const std::string capabilities = "POST /IpamDriver.GetCapabilities HTTP/1.1\r\nHost: \r\nContent-Length: 0\r\n\r\n";
    client.send(kActivate + capabilities + kActivate);
    EXPECT_NE(client.receive(3000).body.find("Implements"), std::string::npos);
    EXPECT_NE(client.receive(3000).body.find("RequiresMACAddress"), std::string::npos);
    EXPECT_NE(client.receive(3000).body.find("Implements"), std::string::npos);
}

TEST_F(HostileHttpTest, TenMegabyteBodyIsRefusedWith413OrClosed) {
    const std::string chunk(64 * 1024, ' ');
    for (const bool chunked : {false, true}) {
        RawClient client(socket());
        std::size_t sent = 0;
        bool accepted = client.send(
            "POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\n" +
            std::string(chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: 10485760\r\n\r\n"));
        while (accepted && sent < 10 * 1024 * 1024) {
            accepted = client.send(chunked ? "10000\r\n" + chunk + "\r\n" : chunk);
            if (accepted) sent += chunk.size();
        }
        const auto began = Clock::now();
        const auto outcome = client.receive(10000);
        EXPECT_FALSE(outcome.timedOut);
        EXPECT_TRUE(outcome.status == 413 || (outcome.status == 0 && outcome.closed)) << outcome.head;
        std::cout << "[ 10 MB body ] " << (chunked ? "chunked" : "Content-Length") << ": " << sent / 1024
                  << " KiB sent before the server stopped reading; "
                  << (outcome.status ? "HTTP " + std::to_string(outcome.status) : std::string("closed")) << " after "
                  << secondsSince(began) << " s" << std::endl;
        EXPECT_EQ(post("/Plugin.Activate").status, 200);
    }
}

TEST_F(HostileHttpTest, SlowClientDoesNotStallOthersAndIsClosedAfterTheDeadline) {
    RawClient slow(socket());
    // 60 bytes: a whole minute at one byte per second.
    const std::string request = kActivate;
    const auto began = Clock::now();
    std::atomic<bool> closed{false};  // by the server
    std::atomic<bool> done{false};
    std::atomic<std::size_t> trickled{0};
    double closedAfter = -1;
    std::thread trickle([&] {
        while (trickled < request.size() && secondsSince(began) < 20) {
            if (!slow.send(request.substr(trickled, 1))) {
                closed = true;
                break;
            }
            ++trickled;
            if (slow.closesWithin(1000)) {
                closed = true;
                break;
            }
        }
        closedAfter = secondsSince(began);
        done = true;
    });
    int served = 0;
    double slowest = 0;
    while (!done) {
        const auto asked = Clock::now();
        EXPECT_EQ(post("/IpamDriver.RequestAddress", requestAddressBody(pool_)).status, 200);
        EXPECT_EQ(post("/Plugin.Activate").status, 200);
        slowest = std::max(slowest, secondsSince(asked));
        served += 2;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    trickle.join();
    EXPECT_TRUE(closed) << "the server neither answered nor closed the slow connection in 20 s";
    EXPECT_LT(closedAfter, 15) << "the slow client was not cut off by the 10 s request deadline";
    EXPECT_LT(trickled, request.size());
    EXPECT_LT(slowest, 1.0) << "another client waited " << slowest << " s";
    std::cout << "[ slow client ] closed by the server after " << closedAfter << " s and " << trickled
              << " bytes; meanwhile " << served << " requests by another client, slowest " << slowest * 1000 << " ms"
              << std::endl;
    // The addresses granted meanwhile changed the lease file on purpose.
    leaseBefore_ = readFile(leaseFile());
}

// Opens `count` connections, sends one request on each, and collects the answers with poll.
struct FloodResult {
    int answered = 0;
    int closed = 0;
    int pending = 0;
    double seconds = 0;
};

FloodResult flood(const std::filesystem::path& socket, int count, bool hangUpAfterAnswer, double waitSeconds,
                  const std::function<void()>& meanwhile = {}) {
    std::vector<RawClient> clients;
    for (int i = 0; i < count; ++i) clients.emplace_back(socket);
    for (auto& client : clients) client.send(kActivate);
    const auto began = Clock::now();
    if (meanwhile) meanwhile();
    FloodResult result;
    std::vector<bool> done(clients.size());
    std::size_t left = clients.size();
    while (left > 0 && secondsSince(began) < waitSeconds) {
        std::vector<pollfd> fds;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < clients.size(); ++i) {
            if (!done[i]) {
                fds.push_back({clients[i].fd(), POLLIN, 0});
                index.push_back(i);
            }
        }
        if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (!fds[k].revents) continue;
            auto& client = clients[index[k]];
            const auto outcome = client.receive(1000);
            if (outcome.status == 200) {
                ++result.answered;
            } else {
                ++result.closed;
            }
            done[index[k]] = true;
            --left;
            if (hangUpAfterAnswer) client.close();
        }
    }
    result.pending = static_cast<int>(left);
    result.seconds = secondsSince(began);
    return result;
}

TEST_F(HostileHttpTest, FiveHundredConnectionsAtOnceAreAllAnswered) {
    const auto result = flood(socket(), 500, true, 20);
    // All 500 fit gipam's caps (1024 served, 1024 queued): every one gets its answer.
    EXPECT_EQ(result.answered, 500) << result.closed << " closed, " << result.pending << " got nothing in 20 s";
    std::cout << "[ 500 connections, each hung up after its answer ] " << result.answered << " answered, "
              << result.closed << " closed, " << result.pending << " left waiting, in " << result.seconds << " s"
              << std::endl;
}

// Every open connection holds a server thread while it waits between requests. 500 clients that
// keep their connections open, as HTTP/1.1 clients do, must all be answered, and another client
// (dockerd) must not wait behind them.
TEST_F(HostileHttpTest, FiveHundredKeptAliveConnectionsAreAllAnsweredAndStarveNobody) {
    double otherClient = -1;
    const auto result = flood(socket(), 500, false, 15, [&] {
        const auto asked = Clock::now();
        auto other = HttpConnection::unix(socket());
        other.sendRaw(kActivate);
        try {
            if (other.readResponse(5000)) otherClient = secondsSince(asked);
        } catch (const std::exception&) {
        }
    });
    EXPECT_EQ(result.answered + result.closed, 500) << result.pending << " connections got nothing in 15 s";
    EXPECT_GE(otherClient, 0) << "another client got no answer within 5 s";
    EXPECT_LT(otherClient, 2);
    std::cout << "[ 500 kept-alive connections ] " << result.answered << " answered, " << result.closed << " closed, "
              << result.pending << " left waiting after " << result.seconds << " s; another client "
              << (otherClient < 0 ? "got no answer in 5 s" : "answered in " + std::to_string(otherClient) + " s")
              << std::endl;
}

// A body shorter than its Content-Length (the client hung up before sending it all) must not be
// handled as if complete, even when what arrived is valid JSON (dockerd ends its bodies with a
// newline, which is all that is missing here): 400 or a closed connection, nothing changed.
TEST_F(HostileHttpTest, BodyCutShortOfItsContentLengthChangesNothing) {
    RawClient client(socket());
    const auto body = requestPoolBody("198.19.5.0/24");
    client.send("POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\nContent-Length: " +
                std::to_string(body.size() + 1) + "\r\n\r\n" + body);
    client.shutdownWrite();
    const auto outcome = client.receive(3000);
    EXPECT_TRUE(outcome.status == 400 || (outcome.status == 0 && outcome.closed)) << outcome.head << outcome.body;
}

// The status line's phrase matches the status ("HTTP/1.1 500 Internal Server Error", not
// "500 OK"): curl -v and proxies show it, although dockerd ignores it.
TEST_F(HostileHttpTest, StatusLineReasonMatchesTheStatus) {
    const std::pair<std::string, std::string> requests[] = {
        {requestPoolBody("198.19.5.1/24"), "500 Internal Server Error"},
        {"{", "400 Bad Request"},
    };
    for (const auto& [body, statusLine] : requests) {
        RawClient client(socket());
        client.send("POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
        const auto outcome = client.receive(3000);
        EXPECT_EQ(outcome.head.substr(0, outcome.head.find('\r')), "HTTP/1.1 " + statusLine);
    }
    RawClient client(socket());
    client.send("POST /Nope HTTP/1.1\r\nHost: \r\nContent-Length: 0\r\n\r\n");
    const auto outcome = client.receive(3000);
    EXPECT_EQ(outcome.head.substr(0, outcome.head.find('\r')), "HTTP/1.1 404 Not Found");
}

}  // namespace
}  // namespace gipam::testing
