#include "log/log.h"

#include <atomic>
#include <cstdio>
#include <string>

namespace gipam::log {
namespace {

std::atomic<Level> threshold{Level::Info};

constexpr std::string_view kNames[] = {"debug", "info", "warning", "error"};

}  // namespace

void setLevel(Level level) {
    threshold = level;
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
    std::string line = "gipam ";
    line += kNames[static_cast<int>(level)];
    line += ": ";
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace gipam::log
