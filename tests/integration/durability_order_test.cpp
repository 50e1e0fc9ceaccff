// The durable write as the kernel sees it, traced with strace on the real binary: SIGKILL keeps
// the page cache, so only the order of system calls shows that a reply waits for
// write temp -> fsync temp -> rename -> fsync directory. And a directory sync that fails after the
// rename (injected) must not turn a kept change into a refusal.
#include <linux/magic.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include "integration/fixture.h"
#include "integration/lease_snapshot.h"

namespace gipam::testing {
namespace {

constexpr char kStrace[] = "/usr/bin/strace";
constexpr char kEmptyLeases[] = R"({"format": 1, "v4": "198.18.0.0/16", "v4ab": 24, "pools": []})";

// One system call from an `strace -f` log: where its line(s) began and ended in the log.
struct Call {
    std::string name;
    std::string text;  // arguments and result, both halves of an interrupted call
    std::size_t start = 0;
    std::size_t end = 0;
    long result = 0;
};

// Parses `strace -f -o` output, pairing "<unfinished ...>" with "<... name resumed>" per thread.
std::vector<Call> parseTrace(const std::filesystem::path& file) {
    std::vector<Call> calls;
    std::map<std::string, std::size_t> unfinished;  // thread -> index in calls
    std::ifstream in(file);
    std::string line;
    const std::regex resumed(R"(^(\d+) +<\.\.\. (\w+) resumed>(.*)$)");
    const std::regex call(R"(^(\d+) +(\w+)\((.*)$)");
    for (std::size_t index = 0; std::getline(in, line); ++index) {
        std::smatch match;
        std::string rest;
        std::size_t at;
        if (std::regex_match(line, match, resumed)) {
            const auto it = unfinished.find(match[1]);
            if (it == unfinished.end()) continue;
            at = it->second;
            unfinished.erase(it);
            rest = match[3];
        } else if (std::regex_match(line, match, call)) {
            calls.push_back({match[2], "", index, index, 0});
            at = calls.size() - 1;
            rest = match[3];
            if (rest.size() >= 16 && rest.compare(rest.size() - 16, 16, "<unfinished ...>") == 0) {
                calls[at].text = rest;
                unfinished[match[1]] = at;
                continue;
            }
        } else {
            continue;
        }
        calls[at].text += rest;
        calls[at].end = index;
        const auto equals = rest.rfind(") = ");
        if (equals != std::string::npos) calls[at].result = std::strtol(rest.c_str() + equals + 4, nullptr, 10);
    }
    return calls;
}

class DurabilityOrderTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::access(kStrace, X_OK) != 0) GTEST_SKIP() << "strace is not installed (scripts/deps test installs it)";
        // An existing lease file: startup writes nothing, so every write in the trace is the request's.
        writeFile(lease_, kEmptyLeases);
    }

    // gipam under strace; `inject` adds a fault (strace --inject syntax), if any.
    std::unique_ptr<GipamProcess> startTraced(const std::string& inject = "",
                                              std::map<std::string, std::string> env = {}) {
        std::vector<std::string> argv = {kStrace, "-f", "-qq", "-s", "32", "-o", trace_.string(), "-e",
                                         "trace=openat,write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,sendto,listen"};
        if (!inject.empty()) argv.push_back("--inject=" + inject);
        for (const auto& arg : {std::string(GIPAM_BINARY), std::string("-file"), lease_.string(),
                                std::string("--socket"), socket_.string()}) {
            argv.push_back(arg);
        }
        // GipamProcess starts the binary; this runs strace in its place, which starts it.
        auto gipam = std::make_unique<GipamProcess>(std::vector<std::string>{}, dir_ / "log", socket_, std::move(env),
                                                    [argv]() mutable {
                                                        std::vector<char*> pointers;
                                                        for (auto& arg : argv) pointers.push_back(arg.data());
                                                        pointers.push_back(nullptr);
                                                        ::execv(kStrace, pointers.data());
                                                    });
        EXPECT_TRUE(gipam->running()) << gipam->log();
        return gipam;
    }

    // Stops the traced gipam (strace itself only exits when its tracee has), and strace with it.
    static void stopTraced(GipamProcess& strace) {
        std::istringstream children(
            readFile("/proc/" + std::to_string(strace.pid()) + "/task/" + std::to_string(strace.pid()) + "/children"));
        pid_t gipam = 0;
        if (children >> gipam) ::kill(gipam, SIGTERM);
        strace.waitExit();
    }

    // One RequestPool answered by gipam under strace (a fatal failure if it was refused): the trace.
    std::vector<Call> traceOneRequestPool() {
        auto gipam = startTraced();
        const auto granted = HttpConnection::unix(socket_).post("/IpamDriver.RequestPool", requestPoolBody());
        stopTraced(*gipam);
        [&] { ASSERT_EQ(granted.status, 200) << granted.body; }();
        return parseTrace(trace_);
    }

    TempDir dir_;
    std::filesystem::path lease_ = dir_ / "leases.json";
    std::filesystem::path socket_ = dir_ / "gipam.sock";
    std::filesystem::path trace_ = dir_ / "trace";
};

// The first call at or after `from` named `name` whose text contains `needle`.
std::optional<Call> find(const std::vector<Call>& calls, std::size_t from, const std::string& name,
                         const std::string& needle) {
    for (const auto& call : calls) {
        if (call.start >= from && call.name == name && call.text.find(needle) != std::string::npos) return call;
    }
    return std::nullopt;
}

TEST_F(DurabilityOrderTest, ReplyWaitsForWriteSyncRenameAndDirectorySync) {
    std::vector<Call> calls;
    ASSERT_NO_FATAL_FAILURE(calls = traceOneRequestPool());
    const std::string temp = lease_.string() + ".tmp";

    const auto reply = find(calls, 0, "sendto", "HTTP/1.1 200");
    ASSERT_TRUE(reply) << "no reply in the trace:\n" << readFile(trace_);
    const auto open = find(calls, 0, "openat", "\"" + temp + "\"");
    ASSERT_TRUE(open && open->result >= 0) << "the temp file was never created";
    const std::string tempFd = std::to_string(open->result);
    const auto write = find(calls, open->end, "write", tempFd + ", \"{");
    ASSERT_TRUE(write) << "the lease text was never written to " << temp;
    const auto sync = find(calls, write->end, "fsync", tempFd + ")");
    ASSERT_TRUE(sync && sync->result == 0) << "the temp file was not synced after it was written";
    const auto rename = find(calls, 0, "rename", "\"" + temp + "\", \"" + lease_.string() + "\"");
    ASSERT_TRUE(rename) << "the temp file was not renamed over the lease file";
    EXPECT_GT(rename->start, sync->end) << "renamed before the temp file was synced";
    const auto directory = find(calls, rename->end, "openat", "\"" + dir_.path().string() + "\"");
    ASSERT_TRUE(directory && directory->result >= 0) << "the directory was not opened after the rename";
    const auto directorySync = find(calls, directory->end, "fsync", std::to_string(directory->result) + ")");
    ASSERT_TRUE(directorySync && directorySync->result == 0) << "the directory was not synced after the rename";
    EXPECT_GT(reply->start, directorySync->end) << "the reply left before the directory sync";
    EXPECT_LT(directorySync->end, reply->start);
    std::cout << "[ durable order ] trace lines " << write->start << " write, " << sync->end << " fsync, "
              << rename->end << " rename, " << directorySync->end << " directory fsync, " << reply->start
              << " reply" << std::endl;
}

// The version a save replaces is kept under a second name through the rename, so that ext4 does
// not free it inside the rename (about 100 us), and freed only after the write is durable.
bool onTmpfs(const std::filesystem::path& path) {
    struct statfs info {};
    return ::statfs(path.c_str(), &info) == 0 && info.f_type == TMPFS_MAGIC;
}

TEST_F(DurabilityOrderTest, ReplacedVersionIsFreedAfterTheWriteNotInsideIt) {
    if (onTmpfs(dir_.path())) GTEST_SKIP() << dir_.path() << " is on tmpfs: set TMPDIR to a directory on a disk";
    std::vector<Call> calls;
    ASSERT_NO_FATAL_FAILURE(calls = traceOneRequestPool());
    const std::string replaced = lease_.string() + ".replaced";

    const auto rename = find(calls, 0, "rename", "\"" + lease_.string() + "\"");
    ASSERT_TRUE(rename) << "the lease file was never replaced:\n" << readFile(trace_);
    std::optional<Call> link = find(calls, 0, "link", "\"" + replaced + "\"");
    if (!link) link = find(calls, 0, "linkat", "\"" + replaced + "\"");
    ASSERT_TRUE(link && link->result == 0) << "the lease file was not linked to " << replaced << ":\n"
                                           << readFile(trace_);
    EXPECT_LT(link->end, rename->start) << "linked after the rename: the rename freed the old version";
    const auto directory = find(calls, rename->end, "openat", "\"" + dir_.path().string() + "\"");
    ASSERT_TRUE(directory && directory->result >= 0);
    const auto directorySync = find(calls, directory->end, "fsync", std::to_string(directory->result) + ")");
    ASSERT_TRUE(directorySync);
    std::optional<Call> freed = find(calls, directorySync->end, "unlink", "\"" + replaced + "\"");
    if (!freed) freed = find(calls, directorySync->end, "unlinkat", "\"" + replaced + "\"");
    ASSERT_TRUE(freed && freed->result == 0) << replaced << " was not removed after the directory sync:\n"
                                             << readFile(trace_);
    EXPECT_FALSE(std::filesystem::exists(replaced));
}

// In memory freeing is cheap, and the link and unlink would cost more than they save.
TEST_F(DurabilityOrderTest, OnTmpfsTheReplacedVersionGetsNoSecondName) {
    std::string pattern = "/dev/shm/gipam-test.XXXXXX";
    if (!onTmpfs("/dev/shm") || !::mkdtemp(pattern.data())) GTEST_SKIP() << "no tmpfs at /dev/shm";
    const std::filesystem::path memory = pattern;
    lease_ = memory / "leases.json";
    writeFile(lease_, kEmptyLeases);
    std::vector<Call> calls;
    EXPECT_NO_FATAL_FAILURE(calls = traceOneRequestPool());
    std::filesystem::remove_all(memory);
    if (HasFatalFailure()) return;
    ASSERT_TRUE(find(calls, 0, "rename", "\"" + lease_.string() + "\"")) << readFile(trace_);
    for (const char* name : {"link", "linkat"}) {
        EXPECT_FALSE(find(calls, 0, name, ".replaced")) << name << " on tmpfs:\n" << readFile(trace_);
    }
}

// systemd takes READY=1 to mean "serving": dockerd's calls may come at once.
TEST_F(DurabilityOrderTest, ReadyIsSentOnlyAfterTheSocketListens) {
    const auto notify = dir_ / "notify";
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto address = unixSocketAddress(notify);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    auto gipam = startTraced("", {{"NOTIFY_SOCKET", notify.string()}});
    stopTraced(*gipam);
    ::close(fd);
    const auto calls = parseTrace(trace_);
    const auto listened = find(calls, 0, "listen", "");
    const auto ready = find(calls, 0, "sendto", "READY=1");
    ASSERT_TRUE(listened && ready) << readFile(trace_);
    EXPECT_GT(ready->start, listened->end) << "READY=1 before the socket listened";
}

TEST_F(DurabilityOrderTest, DirectorySyncFailingAfterTheRenameKeepsTheChange) {
    // Per thread: the writer's first fsync is the temp file's, the next three the directory's
    // (gipam retries it twice).
    auto gipam = startTraced("fsync:error=EIO:when=2..4");
    const auto granted = HttpConnection::unix(socket_).post("/IpamDriver.RequestPool", requestPoolBody());
    stopTraced(*gipam);
    // The file already holds the pool: telling dockerd "no" would leave a pool held that no
    // network has.
    EXPECT_EQ(granted.status, 200) << granted.body << "\n" << gipam->log();
    const auto pool = jsonField(granted.body, "PoolID");
    EXPECT_EQ(readLeaseSnapshot(lease_).pools.count(pool), 1u) << readFile(lease_);
    EXPECT_NE(gipam->log().find("cannot sync directory"), std::string::npos) << gipam->log();
    EXPECT_NE(gipam->log().find("the change stands"), std::string::npos) << gipam->log();
    // And gipam still holds it in memory: the same subnet is refused, a release works.
    GipamProcess again({"-file", lease_.string(), "--socket", socket_.string()}, dir_ / "log2", socket_);
    auto connection = HttpConnection::unix(socket_);
    EXPECT_EQ(connection.post("/IpamDriver.ReleasePool", releasePoolBody(pool)).status, 200);
}

}  // namespace
}  // namespace gipam::testing
