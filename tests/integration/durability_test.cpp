// The lease file across restarts, crashes, write failures and foreign formats.
#include <sys/stat.h>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

class DurabilityTest : public GipamTest {};

TEST_F(DurabilityTest, RestartKeepsPoolsAndAddresses) {
    start();
    const auto pool = requestPool();
    const auto v6 = requestPool("", true);
    requestAddress(pool, "198.18.0.10");
    requestAddress(v6);
    restart(SIGTERM);
    EXPECT_EQ(post("/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.0.10")).status, 500);
    EXPECT_EQ(requestAddress(v6), "2001:db8:100::2/64");
    EXPECT_EQ(requestPool(), "gipam-local/198.18.1.0/24");
}

TEST_F(DurabilityTest, KillNineRightAfterReplyLosesNothing) {
    start();
    const auto pool = requestPool();
    for (int round = 0; round < 5; ++round) {
        const auto address = requestAddress(pool);
        gipam_->stop(SIGKILL);
        start();
        const auto again =
            post("/IpamDriver.RequestAddress", requestAddressBody(pool, address.substr(0, address.find('/'))));
        EXPECT_EQ(again.status, 500) << "round " << round << ": " << address << " was lost";
    }
}

TEST_F(DurabilityTest, FirstCallAfterRestartMayBeARelease) {
    start();
    const auto pool = requestPool();
    requestAddress(pool);
    requestAddress(pool);
    restart(SIGKILL);
    EXPECT_EQ(post("/IpamDriver.ReleaseAddress", releaseAddressBody(pool, "198.18.0.1")).status, 200);
    // The release took effect on what was reloaded: .1 is free again, .2 still held.
    EXPECT_EQ(requestAddress(pool), "198.18.0.1/24");
    EXPECT_EQ(post("/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.0.2")).status, 500);
}

TEST_F(DurabilityTest, FailedWriteAnswersErrAndChangesNothing) {
    start();
    const auto pool = requestPool();
    requestAddress(pool);
    const auto before = readFile(leaseFile());
    // A directory where the temp file goes makes every write fail, even for root.
    std::filesystem::create_directory(leaseFile().string() + ".tmp");
    const auto refused = post("/IpamDriver.RequestAddress", requestAddressBody(pool));
    EXPECT_EQ(refused.status, 500);
    EXPECT_NE(jsonField(refused.body, "Err").find("could not save"), std::string::npos) << refused.body;
    EXPECT_EQ(post("/IpamDriver.RequestPool", requestPoolBody()).status, 500);
    EXPECT_EQ(post("/IpamDriver.ReleasePool", releasePoolBody(pool)).status, 500);
    EXPECT_EQ(readFile(leaseFile()), before);

    std::filesystem::remove(leaseFile().string() + ".tmp");
    // Memory was rolled back: the next address is the one the failed request would have had.
    EXPECT_EQ(requestAddress(pool), "198.18.0.2/24");
    EXPECT_EQ(requestPool(), "gipam-local/198.18.1.0/24");
}

TEST_F(DurabilityTest, SecondDaemonOnTheSameLeaseFileRefusesToStart) {
    start();
    auto args = arguments();
    args.push_back("--socket");
    args.push_back((dir_ / "other.sock").string());
    const auto [status, output] = runToExit(args);
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find(leaseFile().string()), std::string::npos) << output;
    EXPECT_NE(output.find("in use"), std::string::npos) << output;
}

TEST_F(DurabilityTest, CorruptLeaseFileStopsStartupAndStaysUntouched) {
    const std::string corrupt = "{\n  \"format\": 1,\n  \"v4\": \"198.18.0.0/16\",\n  \"pools\": [\n    {\"id\": }\n";
    writeFile(leaseFile(), corrupt);
    const auto [status, output] = runToExit(arguments());
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find(leaseFile().string()), std::string::npos) << output;
    EXPECT_NE(output.find("line 5"), std::string::npos) << output;
    EXPECT_EQ(readFile(leaseFile()), corrupt);
    EXPECT_FALSE(std::filesystem::exists(socket()));
}

TEST_F(DurabilityTest, InconsistentLeaseFileStopsStartup) {
    const std::string overlapping = R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": [
        {"id": "a", "pool": "198.18.0.0/24", "addresses": []},
        {"id": "b", "pool": "198.18.0.0/25", "addresses": []}]})";
    writeFile(leaseFile(), overlapping);
    const auto [status, output] = runToExit(arguments());
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find("overlaps"), std::string::npos) << output;
    EXPECT_EQ(readFile(leaseFile()), overlapping);
}

TEST_F(DurabilityTest, APoolIdTwiceStopsStartupNamingTheFileAndLeavesItUntouched) {
    // Found by fuzzing: the file backend's own state met the duplicate before the IPAM service.
    const std::string twice = R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": [
        {"id": "gipam-local/198.18.0.0/24", "pool": "198.18.0.0/24", "addresses": []},
        {"id": "gipam-local/198.18.0.0/24", "pool": "198.18.1.0/24", "addresses": []}]})";
    writeFile(leaseFile(), twice);
    const auto [status, output] = runToExit(arguments());
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find(leaseFile().string()), std::string::npos) << output;
    EXPECT_NE(output.find("appears twice"), std::string::npos) << output;
    EXPECT_EQ(readFile(leaseFile()), twice);
}

TEST_F(DurabilityTest, GoGipamLeaseFileMigratesInOneRestart) {
    writeFile(leaseFile(), R"({
  "v6": "2001:db8:100::/56", "v6ab": 64, "v6idx": 1,
  "v4": "198.18.0.0/16", "v4ab": 24, "v4idx": 2,
  "allocated": [
    {"id": "hGk2J0aZbNq7Xw1e", "v": 4, "pool": "198.18.0.0/24", "idx": 4,
     "allocated": ["198.18.0.1", "198.18.0.3"], "free": ["198.18.0.2"]},
    {"id": "Zx81LmQp0aTy5RvW", "v": 6, "pool": "2001:db8:100::/64", "idx": 2,
     "allocated": ["2001:db8:100::1"], "free": []}
  ],
  "free": [{"id": "Qq", "v": 4, "pool": "198.18.1.0/24", "idx": 1, "allocated": [], "free": []}]
})");
    start();
    // dockerd still holds the random PoolIDs.
    EXPECT_EQ(post("/IpamDriver.RequestAddress", requestAddressBody("hGk2J0aZbNq7Xw1e", "198.18.0.3")).status, 500);
    EXPECT_EQ(requestAddress("hGk2J0aZbNq7Xw1e"), "198.18.0.2/24");
    EXPECT_EQ(requestAddress("Zx81LmQp0aTy5RvW"), "2001:db8:100::2/64");
    EXPECT_EQ(requestPool(), "gipam-local/198.18.1.0/24");
    EXPECT_EQ(post("/IpamDriver.ReleasePool", releasePoolBody("hGk2J0aZbNq7Xw1e")).status, 200);
    // The file is now in gipam's own format.
    EXPECT_NE(readFile(leaseFile()).find("\"format\": 1"), std::string::npos);
}

TEST_F(DurabilityTest, ExampleLeaseFileLoads) {
    std::filesystem::copy_file(std::filesystem::path(GIPAM_SOURCE_DIR) / "leases.example.json", leaseFile());
    start();
    EXPECT_NE(gipam_->log().find("3 pools held"), std::string::npos) << gipam_->log();
    // Its addresses, ranges and round-robin position are what gipam now holds.
    const auto held = post("/IpamDriver.RequestAddress", requestAddressBody("gipam-local/198.18.0.0/24", "198.18.0.9"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "already allocated", held.body);
    EXPECT_EQ(requestAddress("gipam-local/198.18.0.0/24"), "198.18.0.5/24");
    EXPECT_EQ(requestAddress("gipam-local/198.18.200.0/24/198.18.200.128/25"), "198.18.200.131/24");
}

TEST_F(DurabilityTest, LeaseFileIsPrivate) {
    start();
    requestPool();
    struct stat info {};
    ASSERT_EQ(::stat(leaseFile().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace gipam::testing
