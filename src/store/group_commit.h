// Group commit: many callers' changes made durable by one write.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "store/leases.h"

namespace gipam::store {

/// Makes changes durable in groups: while one caller writes, others queue behind it, and the next
/// write covers them all. The changes themselves live with the caller; a write saves whatever
/// `snapshot` returns, called under the caller's lock, through `write`, called without it.
class GroupCommit {
public:
    using Undo = std::function<void()>;
    GroupCommit(std::function<Leases()> snapshot, std::function<void(const Leases&)> write);

    /// Waits until a write containing the change just made (under `lock`) is durable; `lock` is
    /// released on return. If a write fails, every change not yet durable is undone, newest first
    /// and with `lock` held, and each of their callers gets StoreError with the write's message.
    void commit(std::unique_lock<std::mutex>& lock, Undo undo);

    /// How long the write in flight has been running; zero when none is. Lock-free.
    std::chrono::nanoseconds writeInFlightFor() const;

private:
    // One write of everything queued; called by the caller that became the writer, with `lock`.
    void writeQueued(std::unique_lock<std::mutex>& lock);

    // How long a writer gathers changes when several callers were waiting as the last write
    // finished: until kGatherGap passes without one arriving, for at most kGatherWindow.
    static constexpr std::chrono::microseconds kGatherGap{200};
    static constexpr std::chrono::microseconds kGatherWindow{1000};

    std::function<Leases()> snapshot_;
    std::function<void(const Leases&)> write_;
    std::condition_variable changeArrived_;  // a gathering writer has all the changes it waits for
    std::chrono::steady_clock::time_point lastArrival_;  // when the newest change was queued
    std::uint64_t activeCallers_ = 1;        // callers waiting when the last successful write finished
    std::uint64_t lastChange_ = 0;           // sequence number of the newest change queued
    // Every change up to this one is durable or failed. Atomic, like writesResolved_, so that
    // callers can wait without the lock; both are written only with the lock held.
    std::atomic<std::uint64_t> resolvedChange_ = 0;
    std::atomic<std::uint32_t> writesResolved_ = 0;  // bumped after each write; waiters sleep on it
    bool writing_ = false;
    std::atomic<std::int64_t> writeStarted_ = 0;  // steady_clock nanoseconds of the write in flight; 0: none
    std::deque<std::pair<std::uint64_t, Undo>> undoLog_;  // changes not yet durable, oldest first
    std::map<std::uint64_t, std::string> failures_;       // failed changes not yet told to their caller
    std::atomic<std::size_t> unreportedFailures_ = 0;     // failures_.size(), readable without the lock
};

}  // namespace gipam::store
