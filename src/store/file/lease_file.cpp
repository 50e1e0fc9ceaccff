#include "store/file/lease_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "fs/atomic_file.h"
#include "log/log.h"
#include "store/lease_codec.h"

namespace gipam::store {
namespace {

// Creates the missing directories of `directory`, each 0700: a fresh machine has no
// /var/lib/gipam, and the lease file is nobody else's business.
void createDirectory(const std::filesystem::path& directory) {
    std::error_code error;
    if (directory.empty() || std::filesystem::is_directory(directory, error)) return;
    createDirectory(directory.parent_path());
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
        throw StoreError(fs::systemError("cannot create the lease directory", directory));
    }
}

// The file the lease path stands for. Through a symlink that is its target: renaming a new file
// over the link would leave the target stale. A link to nothing (a data disk not mounted yet) is
// an error, not "no lease file": starting empty would hand every address out again.
std::filesystem::path resolveLeasePath(const std::filesystem::path& path) {
    std::error_code error;
    const auto status = std::filesystem::symlink_status(path, error);
    if (std::filesystem::is_symlink(status)) {
        const auto target = std::filesystem::weakly_canonical(path, error);
        if (error || !std::filesystem::exists(target)) {
            throw StoreError("lease file " + path.string() + " is a symbolic link to " +
                             std::filesystem::read_symlink(path, error).string() + ", which does not exist");
        }
        return target;
    }
    createDirectory(fs::directoryOf(path));
    return path;
}

// Takes an exclusive flock on `path` (opened with `flags`); -1 if another process holds it.
int lockExclusively(const std::filesystem::path& path, int flags, const std::string& what) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) throw StoreError(fs::systemError("cannot open " + what, path));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    const int lockErrno = errno;
    ::close(fd);
    errno = lockErrno;
    if (errno == EWOULDBLOCK) return -1;
    throw StoreError(fs::systemError("cannot lock " + what, path));
}

bool pathExists(const std::filesystem::path& path) {
    std::error_code error;
    return std::filesystem::exists(std::filesystem::symlink_status(path, error));
}

// Whether the old file freed inside rename(2) costs enough here to be moved off the write path:
// on a disk filesystem (ext4: about 100 us), not in memory, where the link and unlink would cost more.
bool freeingIsCostly(const std::filesystem::path& directory) {
    struct statfs info {};
    if (::statfs(directory.c_str(), &info) != 0) return true;
    return info.f_type != TMPFS_MAGIC && info.f_type != RAMFS_MAGIC;
}

}  // namespace

LeaseFile::LeaseFile(const std::filesystem::path& path)
    : path_(resolveLeasePath(path)), replaced_(path_.string() + ".replaced") {
    const auto directory = fs::directoryOf(path_);
    lockFd_ = lockExclusively(directory, O_RDONLY | O_DIRECTORY, "the lease directory");
    if (lockFd_ < 0) {
        throw StoreError("lease file " + path_.string() + " is in use by another gipam (it holds the lock on " +
                         directory.string() + ")");
    }
    // Checked now rather than at the first change: a gipam that can keep nothing should not
    // tell dockerd it is ready.
    if (::access(directory.c_str(), W_OK) != 0) {
        throw StoreError(fs::systemError("lease file " + path_.string() + ": cannot write in its directory", directory));
    }
    // Left by a crash between a save and its freeing: only a second name of an older version.
    std::error_code ignored;
    std::filesystem::remove(replaced_, ignored);
    // Older gipams locked "<file>.lock" instead, and left it behind.
    if (const std::filesystem::path lockFile = path_.string() + ".lock"; pathExists(lockFile)) {
        removeOldLockFile(lockFile);
    }
    // Last: a constructor that throws must not leave a thread running.
    if (freeingIsCostly(directory)) freer_ = std::thread([this] { freeReplaced(); });
}

void LeaseFile::removeOldLockFile(const std::filesystem::path& lockFile) {
    const int oldLock = lockExclusively(lockFile, O_RDONLY, "the lock file");
    if (oldLock < 0) {
        throw StoreError("lease file " + path_.string() + " is in use by an older gipam (it holds " +
                         lockFile.string() + ")");
    }
    ::close(oldLock);
    if (pathExists(path_)) {
        std::filesystem::remove(lockFile);
    } else {
        hadLockFile_ = true;  // kept: load() refuses to start empty beside it
    }
}

LeaseFile::~LeaseFile() {
    if (freer_.joinable()) {
        {
            std::lock_guard lock(replacedMutex_);
            stopping_ = true;
        }
        replacedChanged_.notify_all();
        freer_.join();
    }
    if (lockFd_ >= 0) ::close(lockFd_);
}

void LeaseFile::freeReplaced() {
    std::unique_lock lock(replacedMutex_);
    while (true) {
        replacedChanged_.wait(lock, [this] { return replacedExists_ || stopping_; });
        if (!replacedExists_) return;
        lock.unlock();
        // Not synced: a crash that brings the name back leaves it to the next start to remove.
        if (::unlink(replaced_.c_str()) != 0 && errno != ENOENT) {
            log::warning(fs::systemError("cannot remove", replaced_) + " (an older version of the lease file); the "
                         "next change will not wait for it, but frees its predecessor inside the rename");
        }
        lock.lock();
        replacedExists_ = false;
        replacedChanged_.notify_all();
    }
}

std::optional<Leases> readLeaseFile(const std::filesystem::path& path) {
    std::error_code error;
    if (std::filesystem::exists(path, error) && !std::filesystem::is_regular_file(path, error)) {
        throw StoreError("lease file " + path.string() + " is not a regular file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw StoreError(fs::systemError("cannot read lease file", path));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw StoreError(fs::systemError("cannot read lease file", path));
    try {
        return decodeLeases(text.str());
    } catch (const FormatError& error) {
        throw StoreError("lease file " + path.string() + ": " + error.what());
    }
}

std::optional<Leases> LeaseFile::load() const {
    auto leases = readLeaseFile(path_);
    if (!leases && hadLockFile_) {
        const auto lockFile = path_.string() + ".lock";
        throw StoreError("lease file " + path_.string() + " is missing, but " + lockFile +
                         " shows that one was kept here; refusing to start empty, which would hand out "
                         "again the blocks live networks use (restore the file, or remove " +
                         lockFile + " to start empty)");
    }
    return leases;
}

void LeaseFile::save(const Leases& leases) {
    const std::string text = encodeLeases(leases);
    {
        // The last save's version is almost always freed by now (it takes about 100 us).
        std::unique_lock lock(replacedMutex_);
        replacedChanged_.wait(lock, [this] { return !replacedExists_; });
    }
    bool kept = false;
    try {
        kept = fs::writeFileAtomically(path_, text, 0600, freer_.joinable() ? replaced_ : std::filesystem::path());
    } catch (const fs::FileError& error) {
        throw StoreError(error.what());
    }
    if (!kept) return;
    {
        std::lock_guard lock(replacedMutex_);
        replacedExists_ = true;
    }
    replacedChanged_.notify_all();
}

}  // namespace gipam::store
