#include "log/log.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

namespace gipam::log {
namespace {

std::atomic<Level> threshold{Level::Info};
std::atomic<Streams> streams{Streams::Stderr};

constexpr std::string_view kNames[] = {"debug", "info", "warning", "error"};
constexpr std::string_view kSyslogPriorities[] = {"<7>", "<6>", "<4>", "<3>"};

// systemd sets JOURNAL_STREAM to the device and inode of the stream it connected to the journal
// (sd_journal_stream_fd(3)); a "<N>" prefix there sets the line's priority.
bool stderrIsTheJournal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat status {};
    if (!stream || ::fstat(STDERR_FILENO, &status) != 0) return false;
    return stream == std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
}

const bool journal = stderrIsTheJournal();

constexpr std::size_t kMaxLineBytes = 4096;  // PIPE_BUF
std::mutex streamMutex;
std::size_t dropped[2] = {0, 0};  // by stream: stderr, stdout

}  // namespace

void setLevel(Level level) {
    threshold = level;
}

void setStreams(Streams target) {
    streams = target;
}

bool parseLevel(std::string_view text, Level& level) {
    for (int i = 0; i < 4; ++i) {
        if (text == kNames[i]) {
            level = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

bool enabled(Level level) { return level >= threshold.load(); }

void write(Level level, std::string_view message) {
    if (!enabled(level)) return;
    std::string line = journal ? std::string(kSyslogPriorities[static_cast<int>(level)]) : std::string();
    line += "gipam ";
    line += kNames[static_cast<int>(level)];
    line += ": ";
    line += message;
    // One write of at most PIPE_BUF bytes: atomic among threads, and it cannot block on a pipe
    // that poll() says is writable.
    if (line.size() > kMaxLineBytes - 1) line.replace(kMaxLineBytes - 5, std::string::npos, "...");
    line += '\n';
    const int fd = streams == Streams::Split && level < Level::Warning ? STDOUT_FILENO : STDERR_FILENO;
    std::lock_guard lock(streamMutex);
    // A stream nobody reads (a full pipe, a stalled journald) must not stop the requests that log:
    // their lines are dropped and counted instead.
    pollfd writable{fd, POLLOUT, 0};
    if (::poll(&writable, 1, 0) != 1 || !(writable.revents & POLLOUT)) {
        ++dropped[fd == STDOUT_FILENO];
        return;
    }
    if (const auto lost = std::exchange(dropped[fd == STDOUT_FILENO], 0); lost > 0) {
        line = "gipam warning: " + std::to_string(lost) + " log line(s) dropped while the stream was full\n" + line;
    }
    for (std::size_t written = 0; written < line.size();) {
        const auto n = ::write(fd, line.data() + written, line.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        written += static_cast<std::size_t>(n);
    }
}

}  // namespace gipam::log
