#include "store/group_commit.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "log/log.h"
#include "store/store_metrics.h"
#include "store/lease_store.h"

namespace gipam::store {
namespace {

// std::atomic::wait spins with sched_yield before it sleeps; on a virtual machine every yield
// is a costly context switch, and each write wakes many waiters at once. A futex just sleeps.
void waitWhileEqual(std::atomic<std::uint32_t>& word, std::uint32_t seen) {
    static_assert(sizeof word == sizeof(std::uint32_t) && std::atomic<std::uint32_t>::is_always_lock_free);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

void wakeAll(std::atomic<std::uint32_t>& word) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

GroupCommit::GroupCommit(std::function<Leases()> snapshot, std::function<void(const Leases&)> write)
    : snapshot_(std::move(snapshot)), write_(std::move(write)) {}

void GroupCommit::commit(std::unique_lock<std::mutex>& lock, Undo undo) {
    const std::uint64_t change = ++lastChange_;
    undoLog_.emplace_back(change, std::move(undo));
    lastArrival_ = std::chrono::steady_clock::now();
    // Wake a gathering writer only when its wait is over: a wake per change costs a context
    // switch each on the answer's critical path.
    if (writing_ && lastChange_ - resolvedChange_ >= activeCallers_) changeArrived_.notify_one();
    while (resolvedChange_ < change) {
        if (writing_) {
            // Wait without the lock: one write answers many callers, and making each take the
            // lock again on its way out would wake them one after another (a context switch
            // each) instead of all at once.
            const std::uint32_t seen = writesResolved_;
            lock.unlock();
            waitWhileEqual(writesResolved_, seen);
            if (resolvedChange_ >= change && unreportedFailures_ == 0) return;
            lock.lock();
            continue;
        }
        writeQueued(lock);
    }
    std::string failure;
    if (const auto it = failures_.find(change); it != failures_.end()) {
        failure = it->second;
        failures_.erase(it);
        unreportedFailures_ = failures_.size();
    }
    lock.unlock();
    if (!failure.empty()) throw StoreError(failure);
}

void GroupCommit::writeQueued(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    // Callers answered by the last write tend to send their next change at once. Gather until
    // every caller that was waiting when it finished has a change pending again, or until
    // changes stop coming (none for kGatherGap), for at most kGatherWindow. Counting only the
    // last write's callers would settle into two groups alternating between writes; counting
    // the callers queued behind it too merges them into one. A lone caller never waits.
    if (activeCallers_ > 1) {
        const auto start = std::chrono::steady_clock::now();
        const auto deadline = start + kGatherWindow;
        while (lastChange_ - resolvedChange_ < activeCallers_) {
            // Changes queued during the last write arrived long ago: the gap counts from the
            // start of gathering at the earliest.
            const auto until = std::min(deadline, std::max(start, lastArrival_) + kGatherGap);
            if (std::chrono::steady_clock::now() >= until) break;
            changeArrived_.wait_until(lock, until);
        }
    }
    const std::uint64_t written = lastChange_;
    std::size_t undone = 0;
    const Leases leases = snapshot_();
    lock.unlock();
    std::string failure;
    const auto writeStarted = std::chrono::steady_clock::now();
    writeStarted_ = std::max<std::int64_t>(1, writeStarted.time_since_epoch().count());
    try {
        write_(leases);
    } catch (const std::exception& error) {
        failure = error.what();
    }
    writeStarted_ = 0;
    auto& instruments = writeMetrics();
    instruments.seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - writeStarted).count());
    lock.lock();
    instruments.changesPerWrite.observe(static_cast<double>(written - resolvedChange_));
    if (!failure.empty()) instruments.failures.fetch_add(1, std::memory_order_relaxed);
    writing_ = false;
    const bool othersWaiting = lastChange_ - resolvedChange_ > 1;
    if (failure.empty()) {
        while (!undoLog_.empty() && undoLog_.front().first <= written) undoLog_.pop_front();
        activeCallers_ = lastChange_ - resolvedChange_;
        resolvedChange_ = written;
    } else {
        undone = undoLog_.size();
        // Later changes may build on earlier ones (an address in a pool), so undo newest first.
        for (auto it = undoLog_.rbegin(); it != undoLog_.rend(); ++it) {
            it->second();
            failures_.emplace(it->first, failure);
        }
        undoLog_.clear();
        unreportedFailures_ = failures_.size();
        activeCallers_ = 1;
        resolvedChange_ = lastChange_;
    }
    ++writesResolved_;
    if (othersWaiting) wakeAll(writesResolved_);
    if (undone > 0) {
        // Logged without the lock: a stalled stderr must not stop every request.
        lock.unlock();
        log::error("could not save " + std::to_string(undone) + " change(s), undone: " + failure);
        lock.lock();
    }
}

std::chrono::nanoseconds GroupCommit::writeInFlightFor() const {
    const std::int64_t started = writeStarted_;
    if (started == 0) return {};
    return std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(started);
}

}  // namespace gipam::store
