// Restarts under load lose nothing: the test holds the listening socket like systemd's
// gipam.socket and passes it to each gipam it starts (LISTEN_FDS), while clients keep asking.
// A stop must answer every request it has read, after its write, and leave the rest queued in
// the socket for the next gipam.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/fixture.h"
#include "integration/lease_snapshot.h"

namespace gipam::testing {
namespace {

// A Unix socket listening like a systemd socket unit's, kept across gipam restarts.
int listenUnix(const std::filesystem::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const auto address = unixSocketAddress(path);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, 128) != 0) {
        return -1;
    }
    return fd;
}

// gipam started as systemd starts a socket-activated service, on the socket the test holds.
std::unique_ptr<GipamProcess> startActivated(int listenFd, const std::vector<std::string>& args,
                                             const std::filesystem::path& log) {
    return std::make_unique<GipamProcess>(args, log, std::nullopt, std::map<std::string, std::string>{}, [listenFd] {
        ::dup2(listenFd, 3);
        ::setenv("LISTEN_FDS", "1", 1);
        ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    });
}

// The log lines about stopping, warnings and errors: the rest is one line per request.
std::string notableLines(const std::filesystem::path& log) {
    std::istringstream in(readFile(log));
    std::string line, notable;
    while (std::getline(in, line)) {
        if (line.find(" info: ") == std::string::npos || line.find("stopping") != std::string::npos) {
            notable += line + "\n";
        }
    }
    return notable;
}

// What the clients were told: every address granted and not yet released, and the requests
// that got no answer.
struct ClientRecord {
    std::mutex mutex;
    std::set<std::string> held;
    std::vector<std::string> failures;
    std::atomic<int> answered{0};

    void failed(const std::string& what) {
        std::lock_guard lock(mutex);
        failures.push_back(what);
    }
};

// Request then release one address, each on a fresh connection (as curl does, and dockerd after
// the server closed its kept-alive one), until `stop`.
void requestAndRelease(const std::filesystem::path& socket, const std::string& poolId, const std::atomic<bool>& stop,
                       ClientRecord& record) {
    while (!stop) {
        std::string address;
        try {
            const auto granted = HttpConnection::unix(socket).post("/IpamDriver.RequestAddress",
                                                                   requestAddressBody(poolId));
            address = jsonField(granted.body, "Address");
            if (granted.status != 200 || address.empty()) {
                record.failed("RequestAddress: " + std::to_string(granted.status) + " " + granted.body);
                continue;
            }
            address = address.substr(0, address.find('/'));
            {
                std::lock_guard lock(record.mutex);
                // Another client holds it: a restart lost a held address and handed it out twice.
                if (!record.held.insert(address).second) record.failures.push_back(address + " handed out twice");
            }
            ++record.answered;
        } catch (const std::exception& error) {
            record.failed(std::string("RequestAddress: ") + error.what());
            continue;
        }
        // Not held by this client once the release is sent: another client may get it at once.
        {
            std::lock_guard lock(record.mutex);
            record.held.erase(address);
        }
        try {
            const auto released = HttpConnection::unix(socket).post("/IpamDriver.ReleaseAddress",
                                                                    releaseAddressBody(poolId, address));
            if (released.status != 200) {
                record.failed("ReleaseAddress: " + std::to_string(released.status) + " " + released.body);
                std::lock_guard lock(record.mutex);
                record.held.insert(address);
                continue;
            }
            ++record.answered;
        } catch (const std::exception& error) {
            record.failed(std::string("ReleaseAddress ") + address + ": " + error.what());
            std::lock_guard lock(record.mutex);
            record.held.insert(address);
        }
    }
}

TEST(RestartTest, RestartsUnderLoadFailNoRequestAndLeakNoAddress) {
    TempDir dir;
    const auto socket = dir / "gipam.sock";
    const auto lease = dir / "leases.json";
    const int listenFd = listenUnix(socket);
    ASSERT_GE(listenFd, 0) << std::strerror(errno);
    const std::vector<std::string> args = {"-v4", "198.18.0.0/16", "-file", lease.string(), "--socket",
                                           (dir / "unused.sock").string()};
    auto gipam = startActivated(listenFd, args, dir / "log");
    const auto pool = HttpConnection::unix(socket).post("/IpamDriver.RequestPool", requestPoolBody());
    const std::string poolId = jsonField(pool.body, "PoolID");
    ASSERT_FALSE(poolId.empty()) << pool.body << readFile(dir / "log");

    ClientRecord record;
    // Addresses held across every restart: losing them on reload would hand them out again.
    for (const std::string address : {"198.18.0.1", "198.18.0.2"}) {
        const auto held = HttpConnection::unix(socket).post("/IpamDriver.RequestAddress",
                                                            requestAddressBody(poolId, address));
        ASSERT_EQ(held.status, 200) << held.body;
        record.held.insert(address);
    }
    std::atomic<bool> stop = false;
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] { requestAndRelease(socket, poolId, stop, record); });
    }
    constexpr int kRestarts = 8;
    std::vector<int> exits;
    for (int i = 0; i < kRestarts; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        exits.push_back(gipam->stop(SIGTERM));
        gipam = startActivated(listenFd, args, dir / "log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (auto& client : clients) client.join();
    EXPECT_EQ(gipam->stop(SIGTERM), 0) << readFile(dir / "log");
    ::close(listenFd);
    if (std::getenv("RESTART_TEST_LOG")) std::filesystem::copy_file(dir / "log", std::getenv("RESTART_TEST_LOG"), std::filesystem::copy_options::overwrite_existing);

    for (int i = 0; i < kRestarts; ++i) EXPECT_EQ(exits[i], 0) << "stop " << i;
    std::cout << "[ restarts ] " << kRestarts << " restarts, " << record.answered << " answers, "
              << record.failures.size() << " failed requests" << std::endl;
    EXPECT_GT(record.answered, 100) << "the clients hardly ran";
    EXPECT_TRUE(record.failures.empty()) << record.failures.size() << " failed, the first: " << record.failures[0] << "\n"
                                        << notableLines(dir / "log");
    // The lease file holds exactly what the clients were told they hold.
    const auto snapshot = readLeaseSnapshot(lease);
    ASSERT_EQ(snapshot.pools.count(poolId), 1u) << readFile(lease);
    std::set<std::string> stored;
    for (const auto& address : snapshot.pools.at(poolId).addresses) stored.insert(address.toString());
    EXPECT_EQ(stored, record.held) << "addresses held that no client was told about, or the reverse";
}

}  // namespace
}  // namespace gipam::testing
