// Configuration, listening modes and the files dockerd discovers us by.
#include <grp.h>
#include <sys/stat.h>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

class StartupTest : public GipamTest {};

TEST_F(StartupTest, GoStyleFlagsAndEnvironmentWithFlagsWinning) {
    TempDir dir;
    const auto socketPath = dir / "g.sock";
    GipamProcess gipam(
        {"--v4=198.18.64.0/18", "-v4ab=26", "--socket", socketPath.string(), "-file", (dir / "l.json").string()},
        dir / "log", socketPath, {{"GIPAM_V4", "198.19.0.0/16"}, {"GIPAM_V6", "2001:db8:7::/48"}});
    ASSERT_TRUE(gipam.running()) << gipam.log();
    auto connection = HttpConnection::unix(socketPath);
    EXPECT_EQ(jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "Pool"), "198.18.64.0/26");
    EXPECT_EQ(jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody("", true)).body, "Pool"),
              "2001:db8:7::/64");
}

TEST_F(StartupTest, InvalidValuesExitWithStatusTwoNamingThem) {
    const struct {
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        std::string mention;
    } cases[] = {
        {{"-v4", "10.0.0.1/16"}, {}, "did you mean 10.0.0.0/16"},
        {{"-v4", "banana"}, {}, "-v4 banana"},
        {{}, {{"GIPAM_V4", "198.18.0.0/33"}}, "GIPAM_V4"},
        {{"-v4", "198.18.0.0/16", "-v4ab", "16"}, {}, "-v4ab 16"},
        {{"-v4", "198.18.0.0/16", "-v4ab", "31"}, {}, "-v4ab 31"},
        {{"-v6", "2001:db8::/56", "-v6ab", "127"}, {}, "-v6ab 127"},
        {{"-v6", "198.18.0.0/16"}, {}, "not an IPv6 prefix"},
        {{"--log-level", "loud", "-v4", "198.18.0.0/16"}, {}, "--log-level loud"},
    };
    for (const auto& c : cases) {
        TempDir dir;
        auto args = c.args;
        args.insert(args.end(), {"--file", (dir / "l.json").string(), "--socket", (dir / "s").string()});
        const auto [status, output] = runToExit(args, c.env);
        EXPECT_EQ(status, 2) << output;
        EXPECT_NE(output.find(c.mention), std::string::npos) << output;
        EXPECT_FALSE(std::filesystem::exists(dir / "l.json"));
    }
}

TEST_F(StartupTest, NoSupernetAtAllIsAUsageError) {
    TempDir dir;
    const auto [status, output] = runToExit({"--file", (dir / "l.json").string(), "--socket", (dir / "s").string()});
    EXPECT_EQ(status, 2);
    EXPECT_NE(output.find("no supernet"), std::string::npos) << output;
}

TEST_F(StartupTest, HelpListsEveryOptionWithItsVariable) {
    const auto [status, output] = runToExit({"--help"});
    EXPECT_EQ(status, 0);
    for (const char* name :
         {"--address", "GIPAM_ADDRESS", "--file", "GIPAM_FILE", "--v4", "GIPAM_V4", "--v4ab", "GIPAM_V4AB", "--v6",
          "GIPAM_V6", "--v6ab", "GIPAM_V6AB", "--socket", "--spec-dir", "--name", "--log-level", "--version"}) {
        EXPECT_NE(output.find(name), std::string::npos) << name;
    }
    EXPECT_EQ(runToExit({"-version"}).first, 0);
}

TEST_F(StartupTest, LeaseFileWinsOverDifferingSettingsWithOneWarning) {
    start();
    requestPool();
    gipam_->stop();
    gipam_ =
        std::make_unique<GipamProcess>(std::vector<std::string>{"-v4", "198.19.0.0/16", "-v4ab", "25", "-file",
                                                                leaseFile().string(), "--socket", socket().string()},
                                       dir_ / "gipam2.log", socket());
    ASSERT_TRUE(gipam_->running()) << gipam_->log();
    EXPECT_EQ(requestPool(), "gipam-local/198.18.1.0/24");
    const auto log = gipam_->log();
    EXPECT_NE(log.find("-v4 198.19.0.0/16 (lease file: 198.18.0.0/16)"), std::string::npos) << log;
    EXPECT_NE(log.find("-v4ab 25 (lease file: 24)"), std::string::npos) << log;
}

TEST_F(StartupTest, ExclusionsAreKeptInTheLeaseFileAndWinOverAnotherExcludeLater) {
    TempDir dir;
    const auto socketPath = dir / "g.sock";
    const auto leases = (dir / "l.json").string();
    {
        GipamProcess gipam({"-v4", "198.18.0.0/16", "--exclude", "198.18.0.0/23,198.18.2.7", "--socket",
                            socketPath.string(), "-file", leases},
                           dir / "log", socketPath);
        ASSERT_TRUE(gipam.running()) << gipam.log();
        auto connection = HttpConnection::unix(socketPath);
        EXPECT_EQ(jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "Pool"),
                  "198.18.3.0/24");
        gipam.stop();
    }
    EXPECT_NE(readFile(leases).find(R"("exclude": ["198.18.0.0/23", "198.18.2.7"])"), std::string::npos)
        << readFile(leases);
    GipamProcess gipam({"-v4", "198.18.0.0/16", "--socket", socketPath.string(), "-file", leases}, dir / "log2",
                       socketPath, {{"GIPAM_EXCLUDE", "198.18.3.0/24"}});
    ASSERT_TRUE(gipam.running()) << gipam.log();
    auto connection = HttpConnection::unix(socketPath);
    EXPECT_EQ(jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "Pool"), "198.18.4.0/24");
    const auto poolId = jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody("198.18.2.0/24")).body,
                                  "PoolID");
    const auto refused = connection.post("/IpamDriver.RequestAddress", requestAddressBody(poolId, "198.18.2.7")).body;
    EXPECT_NE(refused.find("198.18.2.7 is excluded from pool gipam-local/198.18.2.0/24 (--exclude 198.18.2.7)"),
              std::string::npos)
        << refused;
    EXPECT_NE(gipam.log().find("--exclude 198.18.3.0/24 (lease file: 198.18.0.0/23,198.18.2.7)"), std::string::npos)
        << gipam.log();
}

TEST_F(StartupTest, UnixSocketIsGroupOnlyReplacesAStaleOneAndIsRemovedOnStop) {
    // A socket file nobody listens on, as a crashed gipam leaves it.
    start();
    gipam_->stop(SIGKILL);
    ASSERT_TRUE(std::filesystem::is_socket(socket()));
    start();
    struct stat info {};
    ASSERT_EQ(::stat(socket().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0660u);
    EXPECT_EQ(gipam_->stop(SIGTERM), 0);
    EXPECT_FALSE(std::filesystem::exists(socket()));
}

TEST_F(StartupTest, SocketGroupIsConfigurable) {
    const group* daemonGroup = ::getgrnam("daemon");
    ASSERT_NE(daemonGroup, nullptr);
    start({"--socket-group", "daemon"});
    struct stat info {};
    ASSERT_EQ(::stat(socket().c_str(), &info), 0);
    EXPECT_EQ(info.st_gid, daemonGroup->gr_gid);
    EXPECT_EQ(info.st_mode & 0777, 0660u);

    TempDir other;
    const auto [status, output] = runToExit({"-v4", "198.18.0.0/16", "--file", (other / "l.json").string(), "--socket",
                                             (other / "s").string(), "--socket-group", "no-such-group-here"});
    EXPECT_EQ(status, 2);
    EXPECT_NE(output.find("--socket-group no-such-group-here"), std::string::npos) << output;
}

TEST_F(StartupTest, SocketInUseByALiveServerIsNotStolen) {
    start();
    TempDir other;
    const auto [status, output] =
        runToExit({"-v4", "198.18.0.0/16", "--file", (other / "l.json").string(), "--socket", socket().string()});
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find("in use"), std::string::npos) << output;
    EXPECT_EQ(post("/Plugin.Activate").status, 200);
}

TEST_F(StartupTest, TcpModeWritesSpecFileAndRemovesItOnStop) {
    const int port = freeLoopbackPort();
    const auto spec = dir_ / "spec" / "gipam-test.spec";
    // A stale socket of ours would shadow the spec file in dockerd's lookup.
    start({"--name", "gipam-test", "--socket", (dir_ / "gipam-test.sock").string()});
    gipam_->stop(SIGKILL);
    ASSERT_TRUE(std::filesystem::is_socket(dir_ / "gipam-test.sock"));

    gipam_ = std::make_unique<GipamProcess>(
        arguments({"--name", "gipam-test", "--socket", (dir_ / "gipam-test.sock").string(), "-address",
                   "127.0.0.1:" + std::to_string(port)}),
        dir_ / "tcp.log", std::nullopt);
    for (int i = 0; i < 500 && !std::filesystem::exists(spec); ++i) usleep(10000);
    ASSERT_TRUE(std::filesystem::exists(spec)) << gipam_->log();
    EXPECT_EQ(readFile(spec), "tcp://127.0.0.1:" + std::to_string(port) + "\n");
    EXPECT_FALSE(std::filesystem::exists(dir_ / "gipam-test.sock"));
    auto connection = HttpConnection::tcp(port);
    EXPECT_EQ(connection.post("/Plugin.Activate", "").status, 200);
    EXPECT_EQ(jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "Pool"), "198.18.0.0/24");
    EXPECT_EQ(gipam_->stop(SIGTERM), 0);
    EXPECT_FALSE(std::filesystem::exists(spec));
}

TEST_F(StartupTest, IPv6OnlyConfigurationWarnsAboutOldDocker) {
    TempDir dir;
    GipamProcess gipam(
        {"-v6", "2001:db8:5::/48", "--file", (dir / "l.json").string(), "--socket", (dir / "s.sock").string()},
        dir / "log", dir / "s.sock");
    ASSERT_TRUE(gipam.running()) << gipam.log();
    EXPECT_NE(gipam.log().find("Docker before 28"), std::string::npos);
    auto connection = HttpConnection::unix(dir / "s.sock");
    const auto refused = connection.post("/IpamDriver.RequestPool", requestPoolBody());
    EXPECT_EQ(refused.status, 500);
    EXPECT_NE(jsonField(refused.body, "Err").find("no IPv4 supernet"), std::string::npos) << refused.body;
}

}  // namespace
}  // namespace gipam::testing
