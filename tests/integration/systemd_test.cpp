// systemd integration for real: socket activation through systemd-socket-activate, and the
// readiness notification on a datagram socket like systemd's.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

TEST(SystemdTest, ServesTheSocketSystemdPassesAndLeavesItInPlace) {
    if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0) GTEST_SKIP() << "systemd-socket-activate missing";
    TempDir dir;
    const auto socket = dir / "activated.sock";
    // systemd-socket-activate binds the socket, then execs gipam with LISTEN_FDS=1 on fd 3.
    const pid_t pid = ::fork();
    if (pid == 0) {
        const auto log = (dir / "log").string();
        freopen(log.c_str(), "w", stderr);
        // --socket names the passed socket, as the .deb's default does: gipam must leave it to systemd.
        ::execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", "-l", socket.c_str(), GIPAM_BINARY,
                "-v4", "198.18.0.0/16", "--file", (dir / "l.json").c_str(), "--socket", socket.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) usleep(10000);
    // The first connection makes it exec gipam, which answers on the passed socket.
    const auto response = HttpConnection::unix(socket).post("/IpamDriver.RequestPool", requestPoolBody());
    EXPECT_EQ(jsonField(response.body, "Pool"), "198.18.0.0/24") << readFile(dir / "log");
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << readFile(dir / "log");
    EXPECT_TRUE(std::filesystem::is_socket(socket)) << "gipam removed the socket systemd owns";
    EXPECT_NE(readFile(dir / "log").find("serving the socket systemd passed"), std::string::npos);
}

TEST(SystemdTest, NotifiesReadinessOnlyOnceServing) {
    TempDir dir;
    const auto notifyPath = dir / "notify";
    const int notify = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto address = unixSocketAddress(notifyPath);
    ASSERT_EQ(::bind(notify, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);

    const auto socket = dir / "g.sock";
    GipamProcess gipam({"-v4", "198.18.0.0/16", "--file", (dir / "l.json").string(), "--socket", socket.string()},
                       dir / "log", std::nullopt, {{"NOTIFY_SOCKET", notifyPath.string()}});
    timeval timeout{10, 0};
    ::setsockopt(notify, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char message[64] = {};
    const auto length = ::recv(notify, message, sizeof message - 1, 0);
    ASSERT_GT(length, 0) << gipam.log();
    EXPECT_EQ(std::string(message, static_cast<std::size_t>(length)), "READY=1");
    // Ready means serving: the socket answers right away.
    EXPECT_EQ(HttpConnection::unix(socket).post("/Plugin.Activate", "").status, 200);
    gipam.stop(SIGTERM);
    const auto stopping = ::recv(notify, message, sizeof message - 1, 0);
    EXPECT_EQ(std::string(message, static_cast<std::size_t>(std::max<ssize_t>(stopping, 0))), "STOPPING=1");
    ::close(notify);
}

// The datagrams a gipam sends to its NOTIFY_SOCKET, read as they come.
class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        const auto address = unixSocketAddress(path);
        ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    }
    ~NotifySocket() { ::close(fd_); }
    // Counts WATCHDOG=1 pings during `milliseconds`.
    int pingsWithin(int milliseconds) {
        int pings = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
        while (std::chrono::steady_clock::now() < end) {
            timeval timeout{0, 50000};
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            char message[64] = {};
            const auto length = ::recv(fd_, message, sizeof message - 1, 0);
            if (length > 0 && std::string(message, static_cast<std::size_t>(length)) == "WATCHDOG=1") ++pings;
        }
        return pings;
    }

private:
    int fd_;
};

TEST(SystemdTest, WatchdogPingsStopWhileADurableWriteHangsAndResumeAfter) {
    TempDir dir;
    NotifySocket notify(dir / "notify");
    const auto lease = dir / "l.json";
    const auto socket = dir / "g.sock";
    // WatchdogSec=0.8s: a ping every 200 ms, none once a write hangs for 400 ms.
    GipamProcess gipam({"-v4", "198.18.0.0/16", "--file", lease.string(), "--socket", socket.string()}, dir / "log",
                       socket, {{"NOTIFY_SOCKET", (dir / "notify").string()}, {"WATCHDOG_USEC", "800000"}});
    ASSERT_TRUE(gipam.running()) << gipam.log();
    EXPECT_GE(notify.pingsWithin(1000), 3) << gipam.log();

    // A FIFO where the temp file goes: opening it for writing blocks until someone reads, like a
    // write to a hung disk.
    ASSERT_EQ(::mkfifo((lease.string() + ".tmp").c_str(), 0600), 0);
    std::thread stuck([&] {
        try {
            HttpConnection::unix(socket).post("/IpamDriver.RequestPool", requestPoolBody());
        } catch (const std::exception&) {
        }
    });
    notify.pingsWithin(600);  // the write starts hanging; pings sent meanwhile are read and dropped
    EXPECT_EQ(notify.pingsWithin(1000), 0) << "pings went on while the write hung";
    EXPECT_NE(gipam.log().find("stopping the watchdog pings"), std::string::npos) << gipam.log();

    // Unblock it: the write goes into the FIFO and fails at its fsync; the disk "recovered".
    const int reader = ::open((lease.string() + ".tmp").c_str(), O_RDONLY | O_NONBLOCK);
    stuck.join();
    ::close(reader);
    EXPECT_GE(notify.pingsWithin(1000), 3) << gipam.log();
    EXPECT_NE(gipam.log().find("watchdog pings resume"), std::string::npos) << gipam.log();
    gipam.stop(SIGTERM);
}

}  // namespace
}  // namespace gipam::testing
