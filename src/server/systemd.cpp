#include "server/systemd.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "log/log.h"

namespace gipam::server {

std::optional<int> socketFromSystemd() {
    constexpr int kFirstPassedFd = 3;  // SD_LISTEN_FDS_START
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    const bool ours = pid && fds && std::strtol(pid, nullptr, 10) == ::getpid() && std::strtol(fds, nullptr, 10) >= 1;
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (!ours) return std::nullopt;
    if (std::strtol(fds, nullptr, 10) > 1) log::warning("systemd passed several sockets; gipam serves the first");
    return kFirstPassedFd;
}

void notifySystemd(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::size_t length = std::strlen(path);
    if (length >= sizeof address.sun_path) return;
    std::memcpy(address.sun_path, path, length);
    if (address.sun_path[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), size) < 0) {
        log::warning("could not notify systemd (" + std::string(state) + "): " + std::strerror(errno));
    }
    ::close(fd);
}

}  // namespace gipam::server

namespace gipam::server {

Watchdog::Watchdog(std::function<std::chrono::nanoseconds()> stalledFor) : stalledFor_(std::move(stalledFor)) {
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (!usec || (pid && std::strtol(pid, nullptr, 10) != ::getpid())) return;
    const auto interval = std::chrono::microseconds(std::strtoll(usec, nullptr, 10));
    if (interval <= std::chrono::microseconds::zero()) return;
    log::info("systemd watchdog: pinging every " + std::to_string(interval.count() / 4000) +
              " ms while durable writes return within " + std::to_string(interval.count() / 2000) + " ms");
    thread_ = std::thread([this, interval] { run(interval); });
}

Watchdog::~Watchdog() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    stop_.notify_all();
    thread_.join();
}

void Watchdog::run(std::chrono::microseconds interval) {
    bool stalled = false;
    std::unique_lock lock(mutex_);
    while (!stop_.wait_for(lock, interval / 4, [this] { return stopping_; })) {
        const auto stuck = stalledFor_();
        if (stuck > interval / 2) {
            if (!stalled) {
                log::error("a durable write has not returned for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(stuck).count()) +
                           " s: stopping the watchdog pings, so that systemd restarts gipam");
            }
            stalled = true;
            continue;
        }
        if (stalled) log::warning("the stuck durable write returned; watchdog pings resume");
        stalled = false;
        notifySystemd("WATCHDOG=1");
    }
}

}  // namespace gipam::server
