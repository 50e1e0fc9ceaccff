// Durable replacement of a whole file, and the file helpers the store shares.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace gipam::store {

/// "<what> <path>: <strerror(errno)>", the message of a failed system call on `path`.
std::string systemError(const std::string& what, const std::filesystem::path& path);

/// The directory holding `path` ("." for a bare file name).
std::filesystem::path directoryOf(const std::filesystem::path& path);

/// Replaces `path` with `text` so that a crash at any instant leaves either the old or the new
/// content: temp file in the same directory, fsync, rename, fsync of the directory. Throws
/// StoreError naming the file and the failing step; the old file is then left as it was.
void writeFileAtomically(const std::filesystem::path& path, std::string_view text, unsigned mode);

}  // namespace gipam::store
