#include "log/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

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
    // One fwrite per line keeps lines from concurrent threads whole; journald adds timestamps.
    std::string line = journal ? std::string(kSyslogPriorities[static_cast<int>(level)]) : std::string();
    line += "gipam ";
    line += kNames[static_cast<int>(level)];
    line += ": ";
    line += message;
    line += '\n';
    std::FILE* stream = streams == Streams::Split && level < Level::Warning ? stdout : stderr;
    std::fwrite(line.data(), 1, line.size(), stream);
    if (stream == stdout) std::fflush(stdout);
}

}  // namespace gipam::log
