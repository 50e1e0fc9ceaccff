// Durable replacement of a whole file, and the file helpers around it (the lease file and the
// plugin spec file use them).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gipam::fs {

/// A file operation failed; the message names the file and the failing step.
class FileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// "<what> <path>: <strerror(errno)>", the message of a failed system call on `path`.
std::string systemError(const std::string& what, const std::filesystem::path& path);

/// The directory holding `path` ("." for a bare file name).
std::filesystem::path directoryOf(const std::filesystem::path& path);

/// Replaces `path` with `text` so that a crash at any instant leaves either the old or the new
/// content: temp file in the same directory, fsync, rename, fsync of the directory. Until the
/// rename, a failure throws FileError naming the file and the failing step, and the old file is
/// left as it was. After it the new content stands: a failed directory sync is retried, then
/// logged as an error, and the call returns normally.
///
/// With `keepReplacedAs`, the content replaced is first linked there (a path in the same
/// directory that must not exist), so that the rename does not free it: on ext4 freeing the old
/// file inside rename(2) costs about 100 us, a fifth of the whole replace. True if it was linked:
/// the caller then unlinks it, off the path of whoever waits for the write. Where links are not
/// possible, or `path` does not exist yet, the replace goes on without one.
bool writeFileAtomically(const std::filesystem::path& path, std::string_view text, unsigned mode,
                         const std::filesystem::path& keepReplacedAs = {});

}  // namespace gipam::fs
