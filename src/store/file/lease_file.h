// The lease file on disk: locked, read once at start, replaced atomically on every change.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "store/lease_store.h"

namespace gipam::store {

/// Reads a lease file without taking its lock, as `gipam leases` does beside a running gipam
/// (which replaces the file atomically, so a reader sees one whole state). nullopt if it does not
/// exist; StoreError naming the file and the problem otherwise.
std::optional<Leases> readLeaseFile(const std::filesystem::path& path);

/// Owns one lease file. Holds an exclusive flock on the file's directory for its lifetime, so
/// that a second daemon on the same file (or another lease file in that directory) refuses to
/// start; a lock on the directory cannot be deleted or swapped out from under it the way a lock
/// file can.
class LeaseFile {
public:
    /// Creates a missing directory (mode 0700) and takes the lock; throws StoreError naming the
    /// file if another process holds it or the directory is unusable. A lease path that is a
    /// symbolic link is followed (changes replace the target); a link to nothing is an error.
    /// Removes the "<file>.lock" an older gipam left, unless one still holds it.
    explicit LeaseFile(const std::filesystem::path& path);
    ~LeaseFile();
    LeaseFile(const LeaseFile&) = delete;
    LeaseFile& operator=(const LeaseFile&) = delete;

    /// The file actually read and replaced (the link target when the given path is a link).
    const std::filesystem::path& path() const { return path_; }

    /// The stored leases, or nullopt if the file does not exist yet. Throws StoreError naming
    /// the file and the problem (unreadable, invalid JSON with its position, bad values);
    /// never modifies the file. A missing file beside the lock file an older gipam left is an
    /// error too: starting empty would hand out again every block that live networks use.
    std::optional<Leases> load() const;

    /// Writes a temp file in the same directory, fsyncs it, renames it over the lease file and
    /// fsyncs the directory. On failure (StoreError) the old file stays as it was; a directory
    /// sync that still fails after the rename is logged, not thrown (the change stands).
    /// On a disk filesystem the version replaced is freed afterwards by a thread of this object,
    /// not inside the call (on tmpfs freeing is cheap, and it is left to the rename).
    void save(const Leases& leases);

private:
    // Removes an older gipam's `lockFile` unless one holds it (StoreError); kept, and remembered
    // in hadLockFile_, if the lease file is missing.
    void removeOldLockFile(const std::filesystem::path& lockFile);
    // Unlinks "<file>.replaced", the version the last save replaced, whenever a save leaves one.
    void freeReplaced();

    std::filesystem::path path_;
    std::filesystem::path replaced_;  // "<file>.replaced"; absent but between a save and its freeing
    int lockFd_ = -1;  // the directory, flocked
    bool hadLockFile_ = false;  // an older gipam's "<file>.lock" was there
    std::mutex replacedMutex_;
    std::condition_variable replacedChanged_;
    bool replacedExists_ = false;  // a save left replaced_ for the thread to free
    bool stopping_ = false;
    std::thread freer_;  // last: started once the rest is set up; none on tmpfs
};

}  // namespace gipam::store
