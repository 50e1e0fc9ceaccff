// The systemd protocols gipam speaks without libsystemd: socket activation, readiness and the
// watchdog.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace gipam::server {

/// The listening socket systemd passed us (LISTEN_PID is ours and LISTEN_FDS >= 1: fd 3), or
/// nullopt when started by hand. Unsets the variables so children do not inherit them.
std::optional<int> socketFromSystemd();

/// Sends a state such as "READY=1" to $NOTIFY_SOCKET; does nothing without one.
void notifySystemd(std::string_view state);

/// When the unit has WatchdogSec= (WATCHDOG_USEC, WATCHDOG_PID ours), sends WATCHDOG=1 every
/// quarter of it while gipam makes progress: it stops, with a log line, once `stalledFor` (how
/// long the work in flight has been stuck) passes half of it, so that systemd restarts a gipam
/// whose disk hangs instead of every docker command hanging with it. Without a watchdog it does
/// nothing.
class Watchdog {
public:
    explicit Watchdog(std::function<std::chrono::nanoseconds()> stalledFor);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    void run(std::chrono::microseconds interval);

    std::function<std::chrono::nanoseconds()> stalledFor_;
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace gipam::server
