// One-line log messages on stderr (or stdout), filtered by level.
#pragma once

#include <string_view>

namespace gipam::log {

enum class Level { Debug, Info, Warning, Error };

/// Messages below `level` are dropped. Default: Info.
void setLevel(Level level);

/// Where lines go: all on stderr (the default), or debug and info on stdout and warnings and
/// errors on stderr, so that dockerd logs a managed plugin's lines at info and error. Under
/// systemd (stderr is the journal stream), every line carries its syslog priority as "<N>".
/// A line goes out in one write of at most 4096 bytes (longer ones are cut), or, when its stream
/// would block, is dropped and counted: logging never stops the caller.
enum class Streams { Stderr, Split };
void setStreams(Streams streams);
/// Parses debug|info|warning|error; false if the text is none of them.
bool parseLevel(std::string_view text, Level& level);

/// Whether messages of `level` are written; lets callers skip building them.
bool enabled(Level level);
void write(Level level, std::string_view message);
inline void debug(std::string_view message) {
    write(Level::Debug, message);
}
inline void info(std::string_view message) {
    write(Level::Info, message);
}
inline void warning(std::string_view message) {
    write(Level::Warning, message);
}
inline void error(std::string_view message) {
    write(Level::Error, message);
}

}  // namespace gipam::log
