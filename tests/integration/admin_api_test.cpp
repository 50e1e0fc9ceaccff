// The admin API `gipam gc` uses changes state on its own judgement: root only on the Unix
// socket, and never on plain TCP.
#include <sys/wait.h>
#include <unistd.h>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

class AdminApiTest : public GipamTest {};

TEST_F(AdminApiTest, RootOnTheUnixSocketMayObserveAndRelease) {
    start();
    const auto pool = requestPool();
    const auto observed = post("/Gipam.Observe", "{}");
    ASSERT_EQ(observed.status, 200) << observed.body;
    const auto change = jsonField(observed.body, "Change");
    const auto look = jsonField(observed.body, "Look");
    const auto released = post("/Gipam.ReleaseLeaked", R"({"PoolID":")" + pool + R"(","Address":"","ObservedChange":")" +
                                                           change + R"(","Look":")" + look + R"("})");
    EXPECT_EQ(released.body, R"({"Released":true})");
    EXPECT_NE(gipam_->log().find("gc released leaked pool " + pool), std::string::npos) << gipam_->log();
}

TEST_F(AdminApiTest, AnyoneElseOnTheUnixSocketIsRefused) {
    start();
    requestPool();
    // The socket is 0660 root:root; a member of --socket-group may use the plugin API, and
    // nobody but root the admin API. Here: nobody, with the socket opened up to it.
    ASSERT_EQ(::chmod(socket().c_str(), 0666), 0);
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
        try {
            const bool refused = HttpConnection::unix(socket()).post("/Gipam.Observe", "{}").status == 403;
            const bool plugin = HttpConnection::unix(socket()).post("/Plugin.Activate", "").status == 200;
            ::_exit(refused && plugin ? 0 : 1);
        } catch (const std::exception&) {
            ::_exit(2);
        }
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: not refused or plugin API refused too, 2: cannot connect, 3: setuid";
    EXPECT_NE(gipam_->log().find("refused with 403"), std::string::npos) << gipam_->log();
}

TEST_F(AdminApiTest, PlainTcpIsRefused) {
    const int port = freeLoopbackPort();
    gipam_ = std::make_unique<GipamProcess>(arguments({"-address", "127.0.0.1:" + std::to_string(port)}),
                                            dir_ / "gipam.log", std::nullopt);
    for (int i = 0; i < 500 && !std::filesystem::exists(dir_ / "spec" / "gipam.spec"); ++i) usleep(10000);
    auto connection = HttpConnection::tcp(port);
    EXPECT_EQ(connection.post("/Gipam.Observe", "{}").status, 403);
}

}  // namespace
}  // namespace gipam::testing
