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
/// content: temp file in the same directory, fsync, rename, fsync of the directory. Until the
/// rename, a failure throws StoreError naming the file and the failing step, and the old file is
/// left as it was. After it the new content stands: a failed directory sync is retried, then
/// logged as an error, and the call returns normally.
void writeFileAtomically(const std::filesystem::path& path, std::string_view text, unsigned mode);

}  // namespace gipam::store
