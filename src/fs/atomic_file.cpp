#include "fs/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "log/log.h"

namespace gipam::fs {
namespace {

constexpr int kDirectorySyncAttempts = 3;

// Closes a file descriptor on scope exit.
class FdGuard {
public:
    explicit FdGuard(int fd) : fd_(fd) {}
    ~FdGuard() {
        if (fd_ >= 0) ::close(fd_);
    }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

}  // namespace

std::string systemError(const std::string& what, const std::filesystem::path& path) {
    return what + " " + path.string() + ": " + std::strerror(errno);
}

std::filesystem::path directoryOf(const std::filesystem::path& path) {
    return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

bool writeFileAtomically(const std::filesystem::path& path, std::string_view text, unsigned mode,
                         const std::filesystem::path& keepReplacedAs) {
    const auto temp = path.string() + ".tmp";
    {
        FdGuard fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
        if (fd.get() < 0) throw FileError(systemError("cannot create", temp));
        // A temp file left by a crash keeps its old mode through O_CREAT; set ours.
        if (::fchmod(fd.get(), mode) != 0) throw FileError(systemError("cannot set the mode of", temp));
        std::size_t written = 0;
        while (written < text.size()) {
            const auto n = ::write(fd.get(), text.data() + written, text.size() - written);
            if (n < 0) {
                if (errno == EINTR) continue;
                const auto message = systemError("cannot write", temp);
                ::unlink(temp.c_str());
                throw FileError(message);
            }
            written += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
            const auto message = systemError("cannot sync", temp);
            ::unlink(temp.c_str());
            throw FileError(message);
        }
    }
    const bool kept = !keepReplacedAs.empty() && ::link(path.c_str(), keepReplacedAs.c_str()) == 0;
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const auto message = systemError("cannot replace", path);
        ::unlink(temp.c_str());
        if (kept) ::unlink(keepReplacedAs.c_str());  // a second name of the file still in place
        throw FileError(message);
    }
    // The rename is done: the file holds the change, and a restart would read it, so failing now
    // would tell the caller "not kept" about a change that is kept. Retry the directory sync,
    // then report it without failing.
    const auto directory = directoryOf(path);
    FdGuard dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int attempt = 0; dir.get() >= 0 && attempt < kDirectorySyncAttempts; ++attempt) {
        if (::fsync(dir.get()) == 0) return kept;
    }
    log::error(systemError("cannot sync directory", directory) + " after replacing " + path.string() +
               "; the change stands, but a power loss now may lose it");
    return kept;
}

}  // namespace gipam::fs
