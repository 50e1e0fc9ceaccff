#include "store/file/lease_file.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gipam::store {
namespace {

namespace fs = std::filesystem;

ip::Prefix prefix(std::string_view text) {
    return ip::Prefix::parse(text);
}
ip::Address address(std::string_view text) {
    return ip::Address::parse(text);
}

Leases leasesWithOnePool(std::string_view pool) {
    Leases leases{Supernet{prefix("198.18.0.0/16"), 24}, Supernet{prefix("2001:db8:100::/56"), 64}, {}};
    const auto p = prefix(pool);
    leases.pools.push_back({"gipam-local/" + p.toString(), p, std::nullopt, {}, std::nullopt, {{p.at(1), p.at(3)}}});
    return leases;
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void writeFile(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

unsigned modeOf(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
}

// Each test gets its own directory, removed afterwards.
class LeaseFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "gipam-lease-file-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        file_ = dir_ / "leases.json";
    }
    void TearDown() override {
        std::error_code ignored;
        fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(dir_, ignored);
    }

    fs::path dir_;
    fs::path file_;
};

TEST_F(LeaseFileTest, LoadOfAMissingFileIsNullopt) {
    const LeaseFile leaseFile(file_);
    EXPECT_EQ(leaseFile.path(), file_);
    EXPECT_EQ(leaseFile.load(), std::nullopt);
    EXPECT_FALSE(fs::exists(file_)) << "load must not create the file";
}

TEST_F(LeaseFileTest, SaveThenLoadRoundTrips) {
    LeaseFile leaseFile(file_);
    const Leases leases = leasesWithOnePool("198.18.4.0/24");
    leaseFile.save(leases);
    EXPECT_EQ(leaseFile.load(), leases);
}

TEST_F(LeaseFileTest, SavedStateSurvivesReopening) {
    const Leases leases = leasesWithOnePool("2001:db8:100:7::/64");
    {
        LeaseFile leaseFile(file_);
        leaseFile.save(leases);
    }
    const LeaseFile reopened(file_);
    EXPECT_EQ(reopened.load(), leases);
}

TEST_F(LeaseFileTest, SaveReplacesThePreviousContentAndLeavesNoTempFile) {
    LeaseFile leaseFile(file_);
    leaseFile.save(leasesWithOnePool("198.18.4.0/24"));
    leaseFile.save(leasesWithOnePool("198.18.5.0/24"));
    EXPECT_EQ(leaseFile.load(), leasesWithOnePool("198.18.5.0/24"));
    EXPECT_FALSE(fs::exists(file_.string() + ".tmp"));
}

// The version a save replaces is freed by the lease file's own thread, after the save: in the
// end only the lease file is left, with one name.
TEST_F(LeaseFileTest, ReplacedVersionsAreFreedAfterTheSave) {
    {
        LeaseFile leaseFile(file_);
        for (int i = 0; i < 20; ++i) leaseFile.save(leasesWithOnePool("198.18." + std::to_string(i) + ".0/24"));
        EXPECT_EQ(leaseFile.load(), leasesWithOnePool("198.18.19.0/24"));
    }  // the destructor waits for the last one
    EXPECT_FALSE(fs::exists(file_.string() + ".replaced"));
    EXPECT_EQ(fs::hard_link_count(file_), 1u);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1) << "only the lease file";
}

// A crash between a save and the freeing leaves "<file>.replaced", a second name of an older
// version; the next start removes it and reads the lease file itself.
TEST_F(LeaseFileTest, ReplacedVersionLeftByACrashIsRemovedAtStart) {
    { LeaseFile(file_).save(leasesWithOnePool("198.18.4.0/24")); }
    fs::copy_file(file_, file_.string() + ".replaced");
    { LeaseFile(file_).save(leasesWithOnePool("198.18.5.0/24")); }
    const std::string current = readFile(file_);
    writeFile(file_.string() + ".replaced", "{\"format\": 1, \"pools\": []}");
    LeaseFile leaseFile(file_);
    EXPECT_FALSE(fs::exists(file_.string() + ".replaced"));
    EXPECT_EQ(readFile(file_), current);
    leaseFile.save(leasesWithOnePool("198.18.6.0/24"));
    EXPECT_EQ(leaseFile.load(), leasesWithOnePool("198.18.6.0/24"));
}

TEST_F(LeaseFileTest, SavedFileHasModeSixHundred) {
    LeaseFile leaseFile(file_);
    leaseFile.save(leasesWithOnePool("198.18.4.0/24"));
    EXPECT_EQ(modeOf(file_), 0600u);
}

TEST_F(LeaseFileTest, SavedFileHasModeSixHundredEvenOverAStaleTempFile) {
    // A crash between creating and renaming the temp file leaves it behind; the next save
    // must not inherit its permissions.
    writeFile(file_.string() + ".tmp", "partial");
    ASSERT_EQ(::chmod((file_.string() + ".tmp").c_str(), 0644), 0);
    LeaseFile leaseFile(file_);
    leaseFile.save(leasesWithOnePool("198.18.4.0/24"));
    EXPECT_EQ(leaseFile.load(), leasesWithOnePool("198.18.4.0/24"));
    EXPECT_EQ(modeOf(file_), 0600u) << "open(O_CREAT) would keep the stale temp file's mode";
}

TEST_F(LeaseFileTest, CorruptFileThrowsNamingTheFileAndIsLeftAlone) {
    const std::string corrupt = "{\n  \"format\": 1,\n  \"v4\": \"198.18.0.0/16\"\n  oops\n";
    writeFile(file_, corrupt);
    const LeaseFile leaseFile(file_);
    try {
        leaseFile.load();
        FAIL() << "a corrupt file was loaded";
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, file_.string(), error.what());
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, "line", error.what());
    }
    EXPECT_EQ(readFile(file_), corrupt);
}

TEST_F(LeaseFileTest, BadValueThrowsNamingTheFileAndTheField) {
    const std::string bad = R"({"format": 1, "pools": [{"id": "p", "pool": "198.18.4.1/24"}]})";
    writeFile(file_, bad);
    const LeaseFile leaseFile(file_);
    try {
        leaseFile.load();
        FAIL() << "a bad file was loaded";
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, file_.string(), error.what());
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, "pools[0].pool", error.what());
    }
    EXPECT_EQ(readFile(file_), bad);
}

TEST_F(LeaseFileTest, EmptyFileIsAnErrorNotAFreshStart) {
    writeFile(file_, "");
    const LeaseFile leaseFile(file_);
    EXPECT_THROW(leaseFile.load(), StoreError);
}

TEST_F(LeaseFileTest, DirectoryInPlaceOfTheFileIsAnError) {
    fs::create_directory(file_);
    const LeaseFile leaseFile(file_);
    try {
        leaseFile.load();
        FAIL() << "a directory loaded as a lease file";
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, "is not a regular file", error.what());
    }
}

TEST_F(LeaseFileTest, SecondLeaseFileOnTheSamePathThrows) {
    const LeaseFile first(file_);
    try {
        LeaseFile second(file_);
        FAIL() << "two LeaseFiles hold " << file_;
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, file_.string(), error.what());
    }
}

TEST_F(LeaseFileTest, LockIsFreedWhenTheOwnerGoes) {
    { const LeaseFile first(file_); }
    EXPECT_NO_THROW(LeaseFile second(file_));
}

TEST_F(LeaseFileTest, LockCannotBeDeletedFromUnderTheOwner) {
    LeaseFile first(file_);
    first.save(leasesWithOnePool("198.18.4.0/24"));
    // Whatever lies beside the lease file, a second owner still finds the directory locked.
    for (const auto& entry : fs::directory_iterator(dir_)) {
        if (entry.path() != file_) fs::remove_all(entry.path());
    }
    EXPECT_THROW(LeaseFile second(file_), StoreError);
    EXPECT_THROW(LeaseFile other(dir_ / "other.json"), StoreError) << "one lease directory, one gipam";
}

TEST_F(LeaseFileTest, LeaseFilesInDifferentDirectoriesDoNotConflict) {
    const LeaseFile first(file_);
    fs::create_directory(dir_ / "other");
    EXPECT_NO_THROW(LeaseFile other(dir_ / "other" / "leases.json"));
}

TEST_F(LeaseFileTest, MissingDirectoriesAreCreatedPrivate) {
    const auto file = dir_ / "var" / "lib" / "gipam" / "leases.json";
    LeaseFile leaseFile(file);
    EXPECT_EQ(leaseFile.load(), std::nullopt);
    leaseFile.save(leasesWithOnePool("198.18.4.0/24"));
    for (const auto& directory : {dir_ / "var", dir_ / "var" / "lib", dir_ / "var" / "lib" / "gipam"}) {
        EXPECT_EQ(fs::status(directory).permissions() & fs::perms::all, fs::perms::owner_all) << directory;
    }
}

TEST_F(LeaseFileTest, LockFileOfAnOlderGipamIsRemoved) {
    LeaseFile(file_).save(leasesWithOnePool("198.18.4.0/24"));
    writeFile(file_.string() + ".lock", "");
    const LeaseFile leaseFile(file_);
    EXPECT_FALSE(fs::exists(file_.string() + ".lock"));
    EXPECT_NE(leaseFile.load(), std::nullopt);
}

TEST_F(LeaseFileTest, LockFileOfAnOlderGipamStillRunningRefuses) {
    writeFile(file_.string() + ".lock", "");
    const int held = ::open((file_.string() + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    EXPECT_THROW(LeaseFile leaseFile(file_), StoreError);
    ::close(held);
}

TEST_F(LeaseFileTest, MissingFileBesideAnOlderGipamsLockFileRefusesToStartEmpty) {
    writeFile(file_.string() + ".lock", "");
    const LeaseFile leaseFile(file_);
    try {
        leaseFile.load();
        FAIL() << "a missing lease file beside its lock file loaded as empty";
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, file_.string() + ".lock", error.what());
    }
    EXPECT_TRUE(fs::exists(file_.string() + ".lock")) << "the trace must stay until the operator decides";
}

TEST_F(LeaseFileTest, FailedSaveThrowsAndLeavesTheOldFileIntact) {
    LeaseFile leaseFile(file_);
    leaseFile.save(leasesWithOnePool("198.18.4.0/24"));
    const std::string before = readFile(file_);
    // A directory where the temp file goes makes the save fail even for root.
    fs::create_directory(file_.string() + ".tmp");
    fs::create_directory(file_.string() + ".tmp/keep");
    try {
        leaseFile.save(leasesWithOnePool("198.18.5.0/24"));
        FAIL() << "save succeeded";
    } catch (const StoreError& error) {
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, file_.string(), error.what());
    }
    EXPECT_EQ(readFile(file_), before);
    EXPECT_EQ(leaseFile.load(), leasesWithOnePool("198.18.4.0/24"));
}

TEST_F(LeaseFileTest, FailedFirstSaveLeavesNoFile) {
    LeaseFile leaseFile(file_);
    fs::create_directory(file_.string() + ".tmp");
    EXPECT_THROW(leaseFile.save(leasesWithOnePool("198.18.4.0/24")), StoreError);
    EXPECT_FALSE(fs::exists(file_));
    EXPECT_EQ(leaseFile.load(), std::nullopt);
}

TEST_F(LeaseFileTest, LoadsAGoGipamFile) {
    writeFile(file_, R"({"v6": "", "v6ab": 0, "v4": "198.18.0.0/16", "v4ab": 24,
        "allocated": [{"id": "hGk2J0aZbNq7Xw1e", "v": 4, "pool": "198.18.0.0/24", "idx": 2,
                       "allocated": ["198.18.0.1"], "free": null}], "free": null})");
    const LeaseFile leaseFile(file_);
    const auto leases = leaseFile.load();
    ASSERT_TRUE(leases);
    ASSERT_EQ(leases->pools.size(), 1u);
    EXPECT_EQ(leases->pools[0].id, "hGk2J0aZbNq7Xw1e");
    EXPECT_EQ(leases->pools[0].addresses, (std::vector<AddressRun>{{address("198.18.0.1"), address("198.18.0.1")}}));
}

}  // namespace
}  // namespace gipam::store
