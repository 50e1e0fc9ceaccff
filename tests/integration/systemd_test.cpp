// systemd integration for real: socket activation through systemd-socket-activate, and the
// readiness notification on a datagram socket like systemd's.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

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
        ::execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", "-l", socket.c_str(), GIPAM_BINARY,
                "-v4", "198.18.0.0/16", "--file", (dir / "l.json").c_str(), "--socket", (dir / "own.sock").c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) usleep(10000);
    // The first connection makes it exec gipam, which answers on the passed socket.
    const auto response = HttpConnection::unix(socket).post("/IpamDriver.RequestPool", requestPoolBody());
    EXPECT_EQ(jsonField(response.body, "Pool"), "198.18.0.0/24") << readFile(dir / "log");
    EXPECT_FALSE(std::filesystem::exists(dir / "own.sock"));
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << readFile(dir / "log");
    EXPECT_NE(readFile(dir / "log").find("serving the socket systemd passed"), std::string::npos);
}

TEST(SystemdTest, NotifiesReadinessOnlyOnceServing) {
    TempDir dir;
    const auto notifyPath = dir / "notify";
    const int notify = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, notifyPath.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(notify, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);

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

}  // namespace
}  // namespace gipam::testing
