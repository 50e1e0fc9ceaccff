// Durable replacement of a whole file.
#pragma once

#include <filesystem>
#include <string_view>

namespace gipam::store {

/// Replaces `path` with `text` so that a crash at any instant leaves either the old or the new
/// content: temp file in the same directory, fsync, rename, fsync of the directory. Throws
/// StoreError naming the file and the failing step; the old file is then left as it was.
void writeFileAtomically(const std::filesystem::path& path, std::string_view text, unsigned mode);

}  // namespace gipam::store
