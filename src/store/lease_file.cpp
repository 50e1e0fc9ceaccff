#include "store/lease_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "store/atomic_file.h"
#include "store/lease_codec.h"

namespace gipam::store {
namespace {

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
    const auto directory = directoryOf(path);
    if (!std::filesystem::is_directory(directory, error)) {
        throw StoreError("directory " + directory.string() + " of lease file " + path.string() + " does not exist");
    }
    return path;
}

}  // namespace

LeaseFile::LeaseFile(const std::filesystem::path& path) : path_(resolveLeasePath(path)) {
    const auto lockPath = path_.string() + ".lock";
    const int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw StoreError(systemError("cannot open lock file", lockPath));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int lockErrno = errno;
        ::close(fd);
        errno = lockErrno;
        if (errno == EWOULDBLOCK) {
            throw StoreError("lease file " + path_.string() + " is in use by another gipam (lock " + lockPath +
                             " is held)");
        }
        throw StoreError(systemError("cannot lock", lockPath));
    }
    lockFd_ = fd;
}

LeaseFile::~LeaseFile() {
    if (lockFd_ >= 0) ::close(lockFd_);
}

std::optional<Leases> LeaseFile::load() const {
    std::error_code error;
    if (std::filesystem::exists(path_, error) && !std::filesystem::is_regular_file(path_, error)) {
        throw StoreError("lease file " + path_.string() + " is not a regular file");
    }
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw StoreError(systemError("cannot read lease file", path_));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw StoreError(systemError("cannot read lease file", path_));
    try {
        return decodeLeases(text.str());
    } catch (const FormatError& error) {
        throw StoreError("lease file " + path_.string() + ": " + error.what());
    }
}

void LeaseFile::save(const Leases& leases) {
    writeFileAtomically(path_, encodeLeases(leases), 0600);
}

}  // namespace gipam::store
