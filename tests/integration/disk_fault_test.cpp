// Disk faults: the lease directory on a tiny tmpfs that fills up or turns read-only, an
// immutable lease file or directory, and startup on lease paths gipam cannot use. Whenever a
// write fails the request gets an Err naming the problem, the lease file stays as it was, gipam
// serves exactly what the file says, keeps answering reads, and changes work again once the
// fault is gone. Mounting needs root: those tests skip without it.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>

#include "integration/fixture.h"
#include "integration/lease_snapshot.h"

namespace gipam::testing {
namespace {

namespace fs = std::filesystem;

/// A tmpfs of 64 KiB mounted on a directory for the life of the object.
class TinyTmpfs {
public:
    explicit TinyTmpfs(fs::path mountPoint) : path_(std::move(mountPoint)) {
        fs::create_directories(path_);
        mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64k,mode=0700") == 0;
        if (!mounted_) error_ = std::strerror(errno);
    }
    ~TinyTmpfs() {
        if (mounted_ && ::umount(path_.c_str()) != 0) ::umount2(path_.c_str(), MNT_DETACH);
    }
    TinyTmpfs(const TinyTmpfs&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }
    const fs::path& path() const { return path_; }
    bool remount(bool readOnly) {
        return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | (readOnly ? MS_RDONLY : 0), "size=64k") == 0;
    }
    /// Appends to a filler file page by page until the filesystem is full.
    void fill() {
        const int fd = ::open((path_ / "filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        const std::string page(4096, 'f');
        while (fd >= 0 && ::write(fd, page.data(), page.size()) > 0) {
        }
        if (fd >= 0) ::close(fd);
    }
    /// Makes `bytes` free again (whole pages).
    void freeBytes(off_t bytes) {
        const auto filler = path_ / "filler";
        const auto size = static_cast<off_t>(fs::file_size(filler));
        ::truncate(filler.c_str(), size > bytes ? size - bytes : 0);
    }
    void removeFiller() { fs::remove(path_ / "filler"); }

private:
    fs::path path_;
    bool mounted_ = false;
    std::string error_;
};

/// Sets or clears the immutable attribute (chattr +i), which stops even root from changing a
/// file or a directory's entries. False if the filesystem does not support it.
bool setImmutable(const fs::path& path, bool immutable) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    int flags = 0;
    bool done = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = immutable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    done = done && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    ::close(fd);
    return done;
}

/// The names in a directory, to show that a failed start created or removed nothing.
std::set<std::string> entries(const fs::path& directory) {
    std::set<std::string> names;
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(directory, ignored)) names.insert(entry.path().filename());
    return names;
}

class DiskFaultTest : public GipamTest {
protected:
    /// Starts gipam on `lease` (a later -file wins over the fixture's).
    void startOn(const fs::path& lease) {
        lease_ = lease;
        start({"-file", lease.string()});
    }

    /// A change gipam could not save: 500 naming the cause, and the lease file untouched.
    void expectRefused(const std::string& path, const std::string& body, const std::string& cause) {
        const auto before = readFile(lease_);
        const auto response = post(path, body);
        EXPECT_EQ(response.status, 500) << path << " " << body << " -> " << response.body;
        const auto err = jsonField(response.body, "Err");
        EXPECT_NE(err.find("could not save"), std::string::npos) << response.body;
        EXPECT_NE(err.find(cause), std::string::npos) << response.body;
        EXPECT_EQ(readFile(lease_), before) << "a failed " << path << " changed the lease file";
        ++refused_;
    }

    /// Everything that needs no write is still answered.
    void expectReadsServed(const std::string& poolId, const std::string& unheldAddress) {
        EXPECT_EQ(post("/Plugin.Activate").status, 200);
        EXPECT_EQ(post("/IpamDriver.GetCapabilities").status, 200);
        EXPECT_EQ(post("/IpamDriver.GetDefaultAddressSpaces").status, 200);
        const auto release = post("/IpamDriver.ReleaseAddress", releaseAddressBody(poolId, unheldAddress));
        EXPECT_EQ(release.status, 200) << release.body;
        reads_ += 4;
    }

    /// gipam holds every pool and address of the file: asking for any of them again is refused.
    void expectServesTheFile() {
        const auto snapshot = readLeaseSnapshot(lease_);
        ASSERT_TRUE(snapshot.problems.empty()) << snapshot.describeProblems();
        for (const auto& [id, pool] : snapshot.pools) {
            const auto again =
                post("/IpamDriver.RequestPool", requestPoolBody(pool.pool.toString(), pool.pool.network.v6));
            EXPECT_NE(again.body.find("overlaps"), std::string::npos) << id << " is not held: " << again.body;
            for (const auto& address : pool.addresses) {
                const auto taken = post("/IpamDriver.RequestAddress", requestAddressBody(id, address.toString()));
                EXPECT_NE(taken.body.find("already allocated"), std::string::npos)
                    << address.toString() << " of " << id << " is not held: " << taken.body;
            }
            ++poolsVerified_;
            addressesVerified_ += static_cast<int>(pool.addresses.size());
        }
    }

    /// Holds a pool with .10 and .11, then breaks the disk with `fault`; every kind of change
    /// must be refused naming `cause`, and after `repair` the refused changes happen exactly as
    /// they would have.
    void refuseWhileBrokenThenRecover(const std::function<void()>& fault, const std::function<void()>& repair,
                                      const std::string& cause) {
        const auto pool = requestPool();
        requestAddress(pool, "198.18.0.10");
        requestAddress(pool, "198.18.0.11");
        fault();
        if (HasFatalFailure()) return;
        // Twice: had the first refusal left its change in memory, the second would be answered
        // "already allocated", "overlaps", "unknown pool ID" or 200 instead.
        for (int round = 0; round < 2; ++round) {
            expectRefused("/IpamDriver.RequestAddress", requestAddressBody(pool), cause);
            expectRefused("/IpamDriver.RequestAddress", requestAddressBody(pool, "198.18.0.12"), cause);
            expectRefused("/IpamDriver.ReleaseAddress", releaseAddressBody(pool, "198.18.0.10"), cause);
            expectRefused("/IpamDriver.ReleasePool", releasePoolBody(pool), cause);
            expectRefused("/IpamDriver.RequestPool", requestPoolBody(), cause);
            expectRefused("/IpamDriver.RequestPool", requestPoolBody("198.19.0.0/24"), cause);
        }
        EXPECT_FALSE(fs::exists(lease_.string() + ".tmp"));
        expectReadsServed(pool, "198.18.0.99");
        expectServesTheFile();

        repair();
        EXPECT_EQ(requestAddress(pool), "198.18.0.1/24");
        EXPECT_EQ(requestAddress(pool, "198.18.0.12"), "198.18.0.12/24");
        EXPECT_EQ(post("/IpamDriver.ReleaseAddress", releaseAddressBody(pool, "198.18.0.10")).status, 200);
        EXPECT_EQ(requestPool(), "gipam-local/198.18.1.0/24");
        EXPECT_EQ(requestPool("198.19.0.0/24"), "gipam-local/198.19.0.0/24");
        recovered_ += 5;
        // A restart loads exactly what was acknowledged.
        gipam_->stop(SIGKILL);
        startOn(lease_);
        expectServesTheFile();
        EXPECT_EQ(requestAddress(pool, "198.18.0.10"), "198.18.0.10/24") << "the release was lost";
    }

    void printCounts(const std::string& name) {
        std::cout << "[ " << name << " ] " << refused_ << " changes refused with the lease file unchanged, " << reads_
                  << " reads served meanwhile, " << poolsVerified_ << " pools and " << addressesVerified_
                  << " addresses verified held as on disk, " << recovered_ << " changes after repair" << std::endl;
        RecordProperty("refused", refused_);
        RecordProperty("recovered", recovered_);
    }

    fs::path lease_;
    int refused_ = 0;
    int reads_ = 0;
    int poolsVerified_ = 0;
    int addressesVerified_ = 0;
    int recovered_ = 0;
};

TEST_F(DiskFaultTest, FullDiskRefusesChangesKeepsServingAndRecovers) {
    TinyTmpfs disk(dir_ / "disk");
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << disk.error();
    startOn(disk.path() / "leases.json");
    ASSERT_FALSE(HasFatalFailure());

    // Leave 16 KiB and grow the lease file with pools carrying a 1 KiB option until a write fails.
    disk.fill();
    disk.freeBytes(16 * 1024);
    const auto padded = requestPoolBody("", false, "", R"({"padding":")" + std::string(1024, 'x') + R"("})");
    int fitted = 0;
    for (; fitted < 64; ++fitted) {
        const auto before = readFile(lease_);
        const auto response = post("/IpamDriver.RequestPool", padded);
        if (response.status == 200) continue;
        EXPECT_EQ(response.status, 500) << response.body;
        EXPECT_NE(response.body.find("No space left on device"), std::string::npos) << response.body;
        EXPECT_EQ(readFile(lease_), before) << "the failed write changed the lease file";
        break;
    }
    ASSERT_LT(fitted, 64) << "the disk never filled up";
    std::cout << "[ disk full ] " << fitted << " pools with a 1 KiB option fitted in 16 KiB, the next was refused\n";
    // Once there is room, the refused request gets the block it would have had.
    disk.removeFiller();
    const auto granted = post("/IpamDriver.RequestPool", padded);
    EXPECT_EQ(jsonField(granted.body, "Pool"), "198.18." + std::to_string(fitted) + ".0/24") << granted.body;
    for (int i = 0; i <= fitted; ++i) {
        const auto id = "gipam-local/198.18." + std::to_string(i) + ".0/24";
        ASSERT_EQ(post("/IpamDriver.ReleasePool", releasePoolBody(id)).status, 200) << id;
    }

    // Now fill the disk completely: no change fits.
    refuseWhileBrokenThenRecover([&] { disk.fill(); }, [&] { disk.removeFiller(); }, "No space left on device");
    printCounts("disk full");
    gipam_->stop(SIGKILL);
}

TEST_F(DiskFaultTest, ReadOnlyRemountRefusesChangesKeepsServingAndRecovers) {
    TinyTmpfs disk(dir_ / "disk");
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << disk.error();
    startOn(disk.path() / "leases.json");
    ASSERT_FALSE(HasFatalFailure());
    refuseWhileBrokenThenRecover([&] { ASSERT_TRUE(disk.remount(true)) << std::strerror(errno); },
                                 [&] { ASSERT_TRUE(disk.remount(false)) << std::strerror(errno); },
                                 "Read-only file system");
    printCounts("read-only");
    gipam_->stop(SIGKILL);
}

TEST_F(DiskFaultTest, ImmutableLeaseFileRefusesChangesKeepsServingAndRecovers) {
    startOn(dir_ / "leases.json");
    ASSERT_FALSE(HasFatalFailure());
    if (!setImmutable(lease_, true) || !setImmutable(lease_, false)) {
        GTEST_SKIP() << "cannot set the immutable attribute here";
    }
    refuseWhileBrokenThenRecover([&] { ASSERT_TRUE(setImmutable(lease_, true)); },
                                 [&] { ASSERT_TRUE(setImmutable(lease_, false)); }, "Operation not permitted");
    setImmutable(lease_, false);
    printCounts("immutable file");
}

TEST_F(DiskFaultTest, ImmutableLeaseDirectoryRefusesChangesKeepsServingAndRecovers) {
    const auto state = dir_ / "state";
    fs::create_directory(state);
    startOn(state / "leases.json");
    ASSERT_FALSE(HasFatalFailure());
    if (!setImmutable(state, true) || !setImmutable(state, false)) {
        GTEST_SKIP() << "cannot set the immutable attribute here";
    }
    refuseWhileBrokenThenRecover([&] { ASSERT_TRUE(setImmutable(state, true)); },
                                 [&] { ASSERT_TRUE(setImmutable(state, false)); }, "Operation not permitted");
    setImmutable(state, false);
    printCounts("immutable directory");
}

// --- startup ----------------------------------------------------------------

struct StartupFault {
    std::string name;
    std::function<bool(const fs::path& lease)> prepare;  // false: cannot be set up here (skip)
    std::vector<std::string> mentions;
};

// gipam exits 1 with a message naming the path, binds nothing, and leaves the lease path and
// its directory as they were.
void expectStartupRefused(const StartupFault& fault, const fs::path& lease, const fs::path& socket) {
    const auto directory = lease.parent_path();
    const auto before = entries(directory);
    const auto [status, output] =
        runToExit({"-v4", "198.18.0.0/16", "-file", lease.string(), "--socket", socket.string()});
    EXPECT_EQ(status, 1) << fault.name << ": " << output;
    for (const auto& mention : fault.mentions) {
        EXPECT_NE(output.find(mention), std::string::npos) << fault.name << ": no '" << mention << "' in: " << output;
    }
    EXPECT_EQ(entries(directory), before) << fault.name << ": files were created or removed";
    EXPECT_FALSE(fs::exists(socket)) << fault.name;
    std::cout << "[ startup ] " << fault.name << ": exit " << status << ", " << output.substr(0, output.find('\n'))
              << std::endl;
}

TEST(DiskFaultStartupTest, UnusableLeasePathStopsStartupWithExitOneNamingIt) {
    const std::vector<StartupFault> faults = {
        {"a directory at the lease path",
         [](const fs::path& lease) { return fs::create_directory(lease); },
         {"is not a regular file"}},
        {"a FIFO at the lease path",
         [](const fs::path& lease) { return ::mkfifo(lease.c_str(), 0600) == 0; },
         {"is not a regular file"}},
    };
    for (const auto& fault : faults) {
        TempDir dir;
        const auto lease = dir / "leases.json";
        ASSERT_TRUE(fault.prepare(lease)) << fault.name;
        const auto kind = fs::symlink_status(lease).type();
        auto named = fault;
        named.mentions.push_back(lease.string());
        expectStartupRefused(named, lease, dir / "s.sock");
        EXPECT_EQ(fs::symlink_status(lease).type(), kind) << fault.name << ": the lease path was replaced";
    }
}

// A fresh machine has no /var/lib/gipam: the README's first command must work there.
TEST(DiskFaultStartupTest, MissingLeaseDirectoryIsCreatedPrivateWithAWarningNamingTheFile) {
    TempDir dir;
    const auto lease = dir / "var" / "lib" / "gipam" / "leases.json";
    GipamProcess gipam({"-v4", "198.18.0.0/16", "-file", lease.string(), "--socket", (dir / "s.sock").string()},
                       dir / "log", dir / "s.sock");
    ASSERT_TRUE(gipam.running()) << gipam.log();
    EXPECT_TRUE(fs::exists(lease));
    EXPECT_EQ(fs::status(lease.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_NE(gipam.log().find("warning: lease file " + lease.string() + " does not exist"), std::string::npos)
        << gipam.log();
    gipam.stop(SIGTERM);
}

TEST(DiskFaultStartupTest, ReadOnlyOrFullLeaseDirectoryStopsStartup) {
    TempDir dir;
    TinyTmpfs disk(dir / "disk");
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << disk.error();
    const auto lease = disk.path() / "leases.json";

    // Full: the first lease file does not fit.
    disk.fill();
    expectStartupRefused({"a full disk and no lease file", nullptr, {lease.string(), "No space left on device"}}, lease,
                         dir / "s.sock");
    EXPECT_FALSE(fs::exists(lease));
    EXPECT_FALSE(fs::exists(lease.string() + ".tmp"));
    disk.removeFiller();

    // Read-only, with and without a lease file: gipam could change nothing, so it does not start.
    for (const bool withFile : {false, true}) {
        if (withFile) writeFile(lease, R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": []})");
        const auto content = readFile(lease);
        ASSERT_TRUE(disk.remount(true)) << std::strerror(errno);
        expectStartupRefused({withFile ? "a read-only lease directory" : "a read-only directory and no lease file",
                              nullptr,
                              {lease.string(), "Read-only file system"}},
                             lease, dir / "s.sock");
        EXPECT_EQ(fs::exists(lease), withFile);
        EXPECT_EQ(readFile(lease), content);
        ASSERT_TRUE(disk.remount(false)) << std::strerror(errno);
    }
}

// A lease file that is a symbolic link to a missing target (say a data disk not mounted yet) must
// not pass for "no lease file": starting with nothing held would hand every address out again.
TEST(DiskFaultStartupTest, DanglingSymlinkAtLeasePathStopsStartup) {
    TempDir dir;
    const auto lease = dir / "leases.json";
    const auto target = dir / "unmounted" / "leases.json";
    fs::create_symlink(target, lease);
    GipamProcess gipam({"-v4", "198.18.0.0/16", "-file", lease.string(), "--socket", (dir / "s.sock").string()},
                       dir / "log", dir / "s.sock");
    EXPECT_FALSE(gipam.running()) << "gipam started with nothing held: " << gipam.log();
    gipam.stop(SIGKILL);
    EXPECT_EQ(gipam.waitExit().value_or(-1), 1);
    EXPECT_NE(gipam.log().find(lease.string()), std::string::npos) << gipam.log();
    ASSERT_TRUE(fs::is_symlink(lease)) << "the link was replaced by a regular file";
    EXPECT_EQ(fs::read_symlink(lease), target);
}

// A lease file reached through a symbolic link is read from the link's target, so changes must
// replace the target: renaming over the link would leave the target stale and the link gone.
TEST(DiskFaultStartupTest, SymlinkedLeaseFileIsNotSilentlyReplaced) {
    TempDir dir;
    fs::create_directory(dir / "data");
    const auto target = dir / "data" / "leases.json";
    const auto lease = dir / "leases.json";
    writeFile(target, R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": []})");
    fs::create_symlink(target, lease);
    GipamProcess gipam({"-v4", "198.18.0.0/16", "-file", lease.string(), "--socket", (dir / "s.sock").string()},
                       dir / "log", dir / "s.sock");
    // gipam follows the link (README: the lease file may be a link onto a data disk).
    ASSERT_TRUE(gipam.running()) << gipam.log();
    const auto granted = HttpConnection::unix(dir / "s.sock").post("/IpamDriver.RequestPool", requestPoolBody());
    ASSERT_EQ(granted.status, 200) << granted.body;
    EXPECT_TRUE(fs::is_symlink(lease)) << "the link was replaced by a regular file";
    EXPECT_NE(readFile(target).find("198.18.0.0/24"), std::string::npos) << "the target was not updated";
}

}  // namespace
}  // namespace gipam::testing
