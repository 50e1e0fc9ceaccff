// The interface the IPAM service persists through: changes with preconditions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/change.h"
#include "store/leases.h"

namespace gipam::store {

/// When a store operation gives up: one per Docker request, however many steps it takes.
using Deadline = std::chrono::steady_clock::time_point;

/// Thrown when a change cannot be made durable; the message says what failed and where.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A Cluster pool as every node sees it: `pool.addresses` holds what all nodes hold; `shared`
/// are those held once for every node (gateway, aux addresses), `own` this node's Endpoint
/// addresses (a swarm pool's: the swarm's).
struct ClusterPoolView {
    PoolRecord pool;
    std::vector<AddressRun> shared;
    std::vector<AddressRun> own;
};

/// Something this node holds in a store shared between nodes that none of its pools uses (a
/// claim, a hold, an address key left by a crash or a lost answer). `key` and `version` name it
/// exactly, so that freeing it later frees only what was seen; `what` says it for people.
struct StoreLeak {
    std::string key;
    std::int64_t version = 0;
    std::string what;

    bool operator==(const StoreLeak&) const = default;
};

/// Thrown when a change's precondition does not hold in a store shared between nodes: another
/// node got there first. Nothing was changed. What the store learnt on the way comes with it, so
/// that the caller can retry without a read of its own: `pool`, addresses other nodes took in
/// the pool the change was about; `blocks`, pools of other nodes whose blocks overlap the block
/// wanted or lie after it (`blockInTheWay` among them, when known).
class Conflict : public StoreError {
public:
    using StoreError::StoreError;
    std::optional<ClusterPoolView> pool;
    std::vector<PoolRecord> blocks;
    std::optional<PoolRecord> blockInTheWay;
};

/// Durable storage for the leases, changed one Change at a time.
///
/// commit() is called with `lock` held: the caller's state lock, which also guards the store's
/// queue of changes. It returns, or throws, with `lock` released, and does no I/O while it holds
/// it. Changes of one pool reach the store in the order the caller made them; with several nodes,
/// a change that needs the shared store is sent there first, without the lock, so changes of
/// different pools may be applied in another order. commit() returns once the change is durable,
/// so that a restart finds it. If the change cannot be made durable it throws StoreError
/// (Conflict for a failed precondition) after running, with `lock` held, the `undo` of this
/// change and of every change queued after it that failed with it, newest first. It never throws
/// after the change became durable: a change a restart would find is never reported as failed.
/// What needs the shared store gives up by `by`; the local durable write is never abandoned.
class LeaseStore {
public:
    using Undo = std::function<void()>;
    virtual ~LeaseStore() = default;
    virtual void commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo, Deadline by) = 0;
    /// How long the durable write in flight has been running; zero when none is. Lock-free.
    virtual std::chrono::nanoseconds writeInFlightFor() const = 0;

    /// Whether several nodes share this store (then Conflict can happen, and the reads below
    /// answer).
    virtual bool multiNode() const { return false; }
    /// The shared pool created under `name`; nullopt if there is none. Does I/O: call without
    /// the state lock.
    virtual std::optional<ClusterPoolView> findShared(const std::string& /*name*/, Deadline /*by*/) { return std::nullopt; }
    /// A Cluster pool as stored; nullopt if it is gone. Does I/O: call without the state lock.
    virtual std::optional<ClusterPoolView> readPool(const std::string& /*poolId*/, Deadline /*by*/) { return std::nullopt; }
    /// What this node holds in the shared store that none of its pools uses. Does I/O.
    virtual std::vector<StoreLeak> leaks(Deadline /*by*/) { return {}; }
    /// Frees `leak` if it is still unchanged and still used by nothing here; false otherwise.
    virtual bool freeLeak(const StoreLeak& /*leak*/, Deadline /*by*/) { return false; }
};

}  // namespace gipam::store
