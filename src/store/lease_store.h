// The interface the IPAM service persists through: changes with preconditions.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/change.h"
#include "store/leases.h"

namespace gipam::store {

/// Thrown when a change cannot be made durable; the message says what failed and where.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown when a change's precondition does not hold in a store shared between hosts: another
/// host got there first. Nothing was changed. What the store learnt on the way comes with it, so
/// that the caller can retry without a read of its own: `pool`, the addresses other hosts hold in
/// the pool the change was about; `blocks`, pools of other hosts whose blocks overlap the block
/// wanted or lie after it (`holder` among them, the one in the way, when known).
class Conflict : public StoreError {
public:
    using StoreError::StoreError;
    std::optional<PoolRecord> pool;
    std::vector<PoolRecord> blocks;
    std::optional<PoolRecord> holder;
};

/// Durable storage for the leases, changed one Change at a time.
///
/// commit() is called with `lock` held: the caller's state lock, which also guards the store's
/// queue of changes, so that changes reach the store in the order the caller made them. It
/// returns, or throws, with `lock` released, and does no I/O while it holds it. It returns once
/// the change is durable, so that a restart finds it. If the change cannot be made durable it
/// throws StoreError (Conflict for a failed precondition) after running, with `lock` held, the
/// `undo` of this change and of every change queued after it that failed with it, newest first.
/// It never throws after the change became durable: a change a restart would find is never
/// reported as failed.
class LeaseStore {
public:
    using Undo = std::function<void()>;
    virtual ~LeaseStore() = default;
    virtual void commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo) = 0;
    /// How long the durable write in flight has been running; zero when none is. Lock-free.
    virtual std::chrono::nanoseconds writeInFlightFor() const = 0;

    /// Whether other hosts share this store (then Conflict can happen, and the reads below answer).
    virtual bool shared() const { return false; }
    /// The shared pool created under `name`, with the addresses every host holds in it; nullopt
    /// if there is none. Does I/O: call without the state lock.
    virtual std::optional<PoolRecord> findShared(const std::string& /*name*/) { return std::nullopt; }
    /// A Cluster pool as stored, with the addresses every host holds; nullopt if it is gone.
    /// Does I/O: call without the state lock.
    virtual std::optional<PoolRecord> readPool(const std::string& /*poolId*/) { return std::nullopt; }
};

}  // namespace gipam::store
