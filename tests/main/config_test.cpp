#include "main/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <map>

namespace gipam::config {
namespace {

using ::testing::IsSubstring;

ip::Prefix prefix(std::string_view text) {
    return ip::Prefix::parse(text);
}

const char* const kVariables[] = {"GIPAM_ADDRESS",        "GIPAM_FILE",    "GIPAM_V4",          "GIPAM_V4AB",
                                  "GIPAM_V6",             "GIPAM_V6AB",    "GIPAM_TLS_CERT",    "DOCKER_HOST",
                                  "GIPAM_ETCD_ENDPOINTS", "GIPAM_NODE_ID", "GIPAM_ETCD_PREFIX",
                                  "GIPAM_REUSE_DELAY",    "GIPAM_EXCLUDE"};

// Runs every test with no GIPAM_* variables and puts the caller's back afterwards.
class ConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* name : kVariables) {
            if (const char* value = std::getenv(name)) saved_[name] = value;
            ::unsetenv(name);
        }
    }
    void TearDown() override {
        for (const char* name : kVariables) ::unsetenv(name);
        for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    }

    // Parses "gipam <args>", keeping what it prints in stdout_ and stderr_.
    ParseResult parse(std::vector<std::string> args) {
        args.insert(args.begin(), "gipam");
        ::testing::internal::CaptureStdout();
        ::testing::internal::CaptureStderr();
        auto result = parseCommandLine(std::move(args));
        stdout_ = ::testing::internal::GetCapturedStdout();
        stderr_ = ::testing::internal::GetCapturedStderr();
        return result;
    }
    Config parseOk(std::vector<std::string> args) {
        const auto result = parse(args);
        EXPECT_EQ(result.exitCode, 0) << stderr_;
        EXPECT_TRUE(result.config) << stderr_;
        return result.config.value_or(Config{});
    }
    // Expects a usage error; returns what was printed for it.
    std::string parseFails(std::vector<std::string> args) {
        const auto result = parse(args);
        EXPECT_EQ(result.exitCode, 2);
        EXPECT_FALSE(result.config);
        EXPECT_FALSE(stderr_.empty());
        return stderr_;
    }

    std::map<std::string, std::string> saved_;
    std::string stdout_;
    std::string stderr_;
};

store::Leases storedLeases() {
    return {store::Supernet{prefix("198.18.0.0/16"), 24}, store::Supernet{prefix("2001:db8:100::/56"), 64}, {}};
}

TEST_F(ConfigTest, AcceptsGoAndGnuFlagForms) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"-v4", "198.18.0.0/16"}, {"-v4=198.18.0.0/16"}, {"--v4", "198.18.0.0/16"}, {"--v4=198.18.0.0/16"}}) {
        const auto config = parseOk(args);
        ASSERT_TRUE(config.v4.supernet) << args[0];
        EXPECT_EQ(config.v4.supernet->prefix, prefix("198.18.0.0/16")) << args[0];
        EXPECT_TRUE(config.v4.prefixGiven) << args[0];
    }
}

TEST_F(ConfigTest, EveryFlagWorksWithASingleDash) {
    const auto config = parseOk({"-address", "127.0.0.1:9000", "-file", "/var/lib/gipam/leases.json", "-v4",
                                 "198.18.0.0/16", "-v4ab=26", "-v6", "2001:db8:100::/56", "-v6ab", "60", "-socket",
                                 "/tmp/g.sock", "-spec-dir", "/tmp/specs", "-name", "ipam2", "-log-level", "debug"});
    EXPECT_EQ(config.address, "127.0.0.1:9000");
    EXPECT_EQ(config.file, "/var/lib/gipam/leases.json");
    EXPECT_EQ(config.v4.supernet, (store::Supernet{prefix("198.18.0.0/16"), 26}));
    EXPECT_EQ(config.v6.supernet, (store::Supernet{prefix("2001:db8:100::/56"), 60}));
    EXPECT_EQ(config.socketPath, "/tmp/g.sock");
    EXPECT_EQ(config.specDir, "/tmp/specs");
    EXPECT_EQ(config.name, "ipam2");
    EXPECT_EQ(config.logLevel, log::Level::Debug);
}

TEST_F(ConfigTest, Defaults) {
    const auto config = parseOk({"-v4", "198.18.0.0/16", "-v6", "2001:db8:100::/56"});
    EXPECT_EQ(config.v4.supernet->blockLength, 24);
    EXPECT_EQ(config.v6.supernet->blockLength, 64);
    EXPECT_FALSE(config.v4.blockLengthGiven);
    EXPECT_FALSE(config.v6.blockLengthGiven);
    EXPECT_EQ(config.file, "leases.json");
    EXPECT_EQ(config.socketPath, "/run/docker/plugins/gipam.sock");
    EXPECT_EQ(config.name, "gipam");
    EXPECT_EQ(config.address, "");
    EXPECT_EQ(config.logLevel, log::Level::Info);
}

TEST_F(ConfigTest, NoSupernetFlagsLeaveBothUnset) {
    const auto config = parseOk({});
    EXPECT_EQ(config.v4.supernet, std::nullopt);
    EXPECT_EQ(config.v6.supernet, std::nullopt);
    EXPECT_FALSE(config.v4.prefixGiven);
    EXPECT_FALSE(config.v6.prefixGiven);
}

TEST_F(ConfigTest, NameChangesTheDefaultSocket) {
    EXPECT_EQ(parseOk({"--name", "ipam2"}).socketPath, "/run/docker/plugins/ipam2.sock");
    EXPECT_EQ(parseOk({"--name", "ipam2", "--socket", "/tmp/x.sock"}).socketPath, "/tmp/x.sock");
}

TEST_F(ConfigTest, EnvironmentVariablesAreUsed) {
    ::setenv("GIPAM_V4", "198.18.0.0/16", 1);
    ::setenv("GIPAM_V4AB", "26", 1);
    ::setenv("GIPAM_V6", "2001:db8:100::/56", 1);
    ::setenv("GIPAM_V6AB", "60", 1);
    ::setenv("GIPAM_FILE", "/var/lib/gipam/leases.json", 1);
    ::setenv("GIPAM_ADDRESS", "127.0.0.1:9000", 1);
    const auto config = parseOk({});
    EXPECT_EQ(config.v4.supernet, (store::Supernet{prefix("198.18.0.0/16"), 26}));
    EXPECT_EQ(config.v6.supernet, (store::Supernet{prefix("2001:db8:100::/56"), 60}));
    EXPECT_TRUE(config.v4.prefixGiven);
    EXPECT_TRUE(config.v4.blockLengthGiven);
    EXPECT_EQ(config.file, "/var/lib/gipam/leases.json");
    EXPECT_EQ(config.address, "127.0.0.1:9000");
}

TEST_F(ConfigTest, FlagsWinOverEnvironmentVariables) {
    ::setenv("GIPAM_V4", "198.19.0.0/16", 1);
    ::setenv("GIPAM_V4AB", "20", 1);
    ::setenv("GIPAM_FILE", "/from/env.json", 1);
    const auto config = parseOk({"-v4=198.18.0.0/16", "-v4ab", "26", "--file", "/from/flag.json"});
    EXPECT_EQ(config.v4.supernet, (store::Supernet{prefix("198.18.0.0/16"), 26}));
    EXPECT_EQ(config.file, "/from/flag.json");
}

TEST_F(ConfigTest, EtcdSettingsComeFromFlagsOrVariablesWithTheHostnameAsNodeId) {
    auto config = parseOk({});
    EXPECT_TRUE(config.etcdEndpoints.empty());
    EXPECT_EQ(config.etcdPrefix, "/gipam");
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    EXPECT_EQ(config.nodeId, host);
    ::setenv("GIPAM_ETCD_ENDPOINTS", "http://127.0.0.1:2379,http://127.0.0.2:2379", 1);
    ::setenv("GIPAM_NODE_ID", "from-env", 1);
    ::setenv("GIPAM_ETCD_PREFIX", "/plan", 1);
    config = parseOk({});
    EXPECT_EQ(config.etcdEndpoints, (std::vector<std::string>{"http://127.0.0.1:2379", "http://127.0.0.2:2379"}));
    EXPECT_EQ(config.nodeId, "from-env");
    EXPECT_EQ(config.etcdPrefix, "/plan");
    config = parseOk({"-etcd-endpoints", "http://127.0.0.1:12379", "--node-id=a"});
    EXPECT_EQ(config.etcdEndpoints, std::vector<std::string>{"http://127.0.0.1:12379"});
    EXPECT_EQ(config.nodeId, "a");
}

TEST_F(ConfigTest, AReuseDelayIsADurationFromTheFlagOrItsVariable) {
    EXPECT_EQ(parseOk({}).reuseDelay, std::chrono::milliseconds(0));
    EXPECT_EQ(parseOk({"-reuse-delay", "1m30s"}).reuseDelay, std::chrono::seconds(90));
    ::setenv("GIPAM_REUSE_DELAY", "30s", 1);
    EXPECT_EQ(parseOk({}).reuseDelay, std::chrono::seconds(30));
    EXPECT_EQ(parseOk({"--reuse-delay=0"}).reuseDelay, std::chrono::milliseconds(0));
    EXPECT_PRED_FORMAT2(IsSubstring, "--reuse-delay 30: give a duration", parseFails({"--reuse-delay", "30"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--reuse-delay 48h", parseFails({"--reuse-delay", "48h"}));
}

TEST_F(ConfigTest, ExclusionsGoIntoANewLeaseFileAndOnesThatDifferFromItAreNamed) {
    ::setenv("GIPAM_EXCLUDE", "198.18.0.0/24", 1);
    auto config = parseOk({"-v4", "198.18.0.0/16", "--exclude", "198.18.9.5-198.18.9.9, 2001:db8::1"});
    ASSERT_EQ(config.excluded.size(), 2u);
    const auto leases = initialLeases(config);
    EXPECT_EQ(leases.excluded, config.excluded);
    EXPECT_TRUE(differencesFromLeases(config, leases).empty());
    store::Leases stored = leases;
    stored.excluded.pop_back();
    const auto differences = differencesFromLeases(config, stored);
    ASSERT_EQ(differences.size(), 1u);
    EXPECT_EQ(differences[0], "--exclude 198.18.9.5-198.18.9.9,2001:db8::1 (lease file: 198.18.9.5-198.18.9.9)");
    EXPECT_EQ(parseOk({"-v4", "198.18.0.0/16"}).excluded.size(), 1u) << "from GIPAM_EXCLUDE";
    EXPECT_PRED_FORMAT2(IsSubstring, "--exclude: '198.18.0.300' is not an IP address", parseFails({"--exclude", "198.18.0.300"}));
}

TEST_F(ConfigTest, BadEtcdSettingsAreRefusedNamingThem) {
    EXPECT_PRED_FORMAT2(IsSubstring, "--etcd-endpoints", parseFails({"--etcd-endpoints", "127.0.0.1:2379"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--node-id", parseFails({"--node-id", "a/b"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--node-id", parseFails({"--node-id", "swarm"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--etcd-prefix", parseFails({"--etcd-prefix", "gipam"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--etcd-prefix", parseFails({"--etcd-prefix", "/gipam/"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "node remove needs --etcd-endpoints", parseFails({"node", "remove", "h1"}));
    EXPECT_EQ(parseOk({"node", "remove", "h1", "--etcd-endpoints", "http://127.0.0.1:2379"}).removeNode, "h1");
}

TEST_F(ConfigTest, TlsToEtcdIsRefusedWhereItWouldNotBeUsedOrWouldBeMixed) {
    const std::vector<std::string> http{"--etcd-endpoints", "http://127.0.0.1:2379"};
    for (const auto& files : std::vector<std::vector<std::string>>{
             {"--etcd-cacert", "/etc/gipam/ca.pem"}, {"--etcd-cert", "/etc/gipam/etcd.pem", "--etcd-key", "/etc/gipam/etcd.key"}}) {
        auto args = http;
        args.insert(args.end(), files.begin(), files.end());
        EXPECT_PRED_FORMAT2(IsSubstring, "are for https:// endpoints, but http://127.0.0.1:2379 is http://", parseFails(args));
    }
    EXPECT_PRED_FORMAT2(IsSubstring, "etcd endpoints mix https:// (https://127.0.0.2:2379) and http://",
                        parseFails({"--etcd-endpoints", "http://127.0.0.1:2379,https://127.0.0.2:2379"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "--etcd-cert and --etcd-key go together",
                        parseFails({"--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-cert", "/c.pem"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "need --etcd-endpoints", parseFails({"--etcd-cacert", "/ca.pem"}));
    // https without a CA file is fine: the system's CAs verify etcd's certificate.
    EXPECT_EQ(parseOk({"--etcd-endpoints", "https://127.0.0.1:2379"}).etcdCa, "");
}

TEST_F(ConfigTest, InvalidValuesExitWithTwo) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"-v4", "banana"},
                                                                  {"-v4", "198.18.0.0/33"},
                                                                  {"-v4", "198.18.0.0"},
                                                                  {"-v4", "198.18.0.1/16"},
                                                                  {"-v4", "198.18.0.0/16", "-v4ab", "16"},
                                                                  {"-v4", "198.18.0.0/16", "-v4ab", "8"},
                                                                  {"-v4", "198.18.0.0/16", "-v4ab", "31"},
                                                                  {"-v4", "198.18.0.0/16", "-v4ab", "abc"},
                                                                  {"-v6", "2001:db8:100::/56", "-v6ab", "127"},
                                                                  {"-v6", "2001:db8:100::/56", "-v6ab", "56"},
                                                                  {"-v4", "2001:db8:100::/56"},
                                                                  {"-v6", "198.18.0.0/16"},
                                                                  {"--log-level", "loud"},
                                                                  {"--name", "a/b"},
                                                                  {"--name", ""},
                                                                  {"--bogus"},
                                                                  {"-v4"},
                                                                  {"unexpected"}}) {
        const auto result = parse(args);
        EXPECT_EQ(result.exitCode, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "");
        EXPECT_FALSE(result.config) << args[0];
    }
}

TEST_F(ConfigTest, InvalidEnvironmentValueExitsWithTwoNamingTheVariable) {
    ::setenv("GIPAM_V4", "banana", 1);
    EXPECT_PRED_FORMAT2(IsSubstring, "GIPAM_V4", parseFails({}));
}

TEST_F(ConfigTest, UsageErrorNamesTheFlagAndSuggestsAFix) {
    const auto hostBits = parseFails({"-v4", "198.18.0.1/16"});
    EXPECT_PRED_FORMAT2(IsSubstring, "-v4", hostBits);
    EXPECT_PRED_FORMAT2(IsSubstring, "did you mean 198.18.0.0/16", hostBits);
    EXPECT_PRED_FORMAT2(IsSubstring, "-v4ab 16", parseFails({"-v4", "198.18.0.0/16", "-v4ab", "16"}));
    EXPECT_PRED_FORMAT2(IsSubstring, "IPv4", parseFails({"-v4", "2001:db8::/56"}));
}

TEST_F(ConfigTest, BlockLengthIsCheckedEvenWithoutItsSupernet) {
    // -v4ab 31 can never be valid; accepting it silently hides the typo.
    const auto result = parse({"-v4ab", "31"});
    EXPECT_EQ(result.exitCode, 2) << "-v4ab 31 without -v4 must be refused";
    EXPECT_FALSE(result.config) << "-v4ab 31 without -v4 must be refused";
}

TEST_F(ConfigTest, HelpAndVersionExitWithZeroAndNoConfig) {
    for (const char* flag : {"--help", "-help", "-h", "--version", "-version"}) {
        const auto result = parse({flag});
        EXPECT_EQ(result.exitCode, 0) << flag;
        EXPECT_FALSE(result.config) << flag;
        EXPECT_FALSE(stdout_.empty() && stderr_.empty()) << flag << " printed nothing";
    }
    parse({"--version"});
    EXPECT_PRED_FORMAT2(IsSubstring, "gipam", stdout_ + stderr_);
    parse({"--help"});
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab", stdout_ + stderr_);
}

TEST_F(ConfigTest, InitialLeasesNeedASupernet) {
    EXPECT_THROW(initialLeases(parseOk({})), UsageError);
    const auto v4only = initialLeases(parseOk({"-v4", "198.18.0.0/16"}));
    EXPECT_EQ(v4only.v4, (store::Supernet{prefix("198.18.0.0/16"), 24}));
    EXPECT_EQ(v4only.v6, std::nullopt);
    EXPECT_TRUE(v4only.pools.empty());
    const auto both = initialLeases(parseOk({"-v4", "198.18.0.0/16", "-v6", "2001:db8:100::/56", "-v6ab", "60"}));
    EXPECT_EQ(both.v6, (store::Supernet{prefix("2001:db8:100::/56"), 60}));
}

TEST_F(ConfigTest, NoDifferencesWhenNothingIsSetOrAllMatches) {
    EXPECT_TRUE(differencesFromLeases(parseOk({}), storedLeases()).empty());
    EXPECT_TRUE(differencesFromLeases(parseOk({"-v4", "198.18.0.0/16", "-v4ab", "24", "-v6", "2001:db8:100::/56"}),
                                      storedLeases())
                    .empty());
}

TEST_F(ConfigTest, DefaultsAreNotDifferences) {
    // The lease file says /26 blocks; the default 24 was not asked for.
    auto leases = storedLeases();
    leases.v4->blockLength = 26;
    EXPECT_TRUE(differencesFromLeases(parseOk({"-v4", "198.18.0.0/16"}), leases).empty());
}

TEST_F(ConfigTest, DifferencesNameTheSettingAndBothValues) {
    const auto differences = differencesFromLeases(parseOk({"-v4", "198.19.0.0/16"}), storedLeases());
    ASSERT_EQ(differences.size(), 1u);
    EXPECT_PRED_FORMAT2(IsSubstring, "-v4 198.19.0.0/16", differences[0]);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", differences[0]);
}

TEST_F(ConfigTest, DifferingBlockLengthIsNamed) {
    const auto differences =
        differencesFromLeases(parseOk({"-v6", "2001:db8:100::/56", "-v6ab", "60"}), storedLeases());
    ASSERT_EQ(differences.size(), 1u);
    EXPECT_PRED_FORMAT2(IsSubstring, "-v6ab 60", differences[0]);
}

TEST_F(ConfigTest, DifferencesFromEnvironmentVariablesAreNamed) {
    ::setenv("GIPAM_V4", "198.19.0.0/16", 1);
    EXPECT_EQ(differencesFromLeases(parseOk({}), storedLeases()).size(), 1u);
}

TEST_F(ConfigTest, SupernetMissingFromTheLeaseFileIsADifference) {
    auto leases = storedLeases();
    leases.v6.reset();
    const auto differences = differencesFromLeases(parseOk({"-v6", "2001:db8:100::/56"}), leases);
    ASSERT_EQ(differences.size(), 1u);
    EXPECT_PRED_FORMAT2(IsSubstring, "-v6 2001:db8:100::/56", differences[0]);
}

TEST_F(ConfigTest, BlockLengthGivenAloneIsComparedToo) {
    // -v4ab 26 was set explicitly and differs from the file's 24.
    const auto differences = differencesFromLeases(parseOk({"-v4ab", "26"}), storedLeases());
    ASSERT_EQ(differences.size(), 1u) << "-v4ab given without -v4 must be compared";
    EXPECT_PRED_FORMAT2(IsSubstring, "-v4ab 26", differences[0]);
}

TEST_F(ConfigTest, CommandsTakeTheDaemonsFlags) {
    auto leases = parse({"leases", "-file", "/x/l.json", "-v", "--json"});
    ASSERT_TRUE(leases.config) << stderr_;
    EXPECT_EQ(leases.config->command, Command::Leases);
    EXPECT_EQ(leases.config->file, "/x/l.json");
    EXPECT_TRUE(leases.config->verbose && leases.config->json);

    auto gc = parse({"gc", "--grace", "5", "--dry-run", "--socket", "/x/s.sock", "--docker-host", "unix:///x/d.sock"});
    ASSERT_TRUE(gc.config) << stderr_;
    EXPECT_EQ(gc.config->command, Command::Gc);
    EXPECT_EQ(gc.config->graceSeconds, 5);
    EXPECT_TRUE(gc.config->dryRun);
    EXPECT_EQ(gc.config->socketPath, "/x/s.sock");
    EXPECT_EQ(gc.config->dockerSocket, "/x/d.sock");

    EXPECT_EQ(parse({"rebuild"}).exitCode, 2) << "rebuild needs --from-docker";
    EXPECT_EQ(parse({"rebuild", "--from-docker", "-v4", "198.18.0.0/16"}).config->command, Command::Rebuild);
}

TEST_F(ConfigTest, DockerHostMattersOnlyToTheCommandsThatUseIt) {
    ::setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
    EXPECT_TRUE(parse({"-v4", "198.18.0.0/16"}).config) << "the daemon refused to start over DOCKER_HOST";
    const auto check = parse({"check"});
    EXPECT_EQ(check.exitCode, 2);
    EXPECT_PRED_FORMAT2(IsSubstring, "Unix socket", stderr_);
}

TEST_F(ConfigTest, TlsFlagsGoTogetherAndNeedAnAddress) {
    EXPECT_EQ(parse({"--tls-cert", "c.pem"}).exitCode, 2);
    EXPECT_PRED_FORMAT2(IsSubstring, "go together", stderr_);
    EXPECT_EQ(parse({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem"}).exitCode, 2);
    EXPECT_PRED_FORMAT2(IsSubstring, "needs -address", stderr_);
    const auto tls = parse({"-address", "127.0.0.1:9071", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca",
                            "ca.pem", "--docker-tls-cert", "d.pem", "--docker-tls-key", "dk.pem"});
    ASSERT_TRUE(tls.config) << stderr_;
    EXPECT_EQ(tls.config->tlsCa, "ca.pem");
    ::setenv("GIPAM_TLS_CERT", "env.pem", 1);
    EXPECT_EQ(parse({"-address", "127.0.0.1:9071", "--tls-key", "k.pem", "--tls-ca", "ca.pem"}).config->tlsCertificate,
              "env.pem");
}

}  // namespace
}  // namespace gipam::config
