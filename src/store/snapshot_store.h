// A LeaseStore that keeps the whole state and writes all of it for each group of changes.
#pragma once

#include <functional>

#include "store/group_commit.h"
#include "store/lease_state.h"
#include "store/lease_store.h"

namespace gipam::store {

/// Applies each change to its snapshot of the leases (checking its precondition at once, under
/// the caller's lock) and makes it durable by writing the whole snapshot through `write`, with
/// group commit: the lease file's backend, `write` being LeaseFile::save.
class SnapshotStore : public LeaseStore {
public:
    /// `write` replaces the stored state, or throws leaving it as it was.
    SnapshotStore(const Leases& initial, std::function<void(const Leases&)> write);

    void commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo, Deadline by) override;
    std::chrono::nanoseconds writeInFlightFor() const override { return group_.writeInFlightFor(); }

    /// The stored record of a pool (nullptr if none); call with the commit lock held.
    const PoolRecord* find(const std::string& poolId) const { return state_.find(poolId); }

private:
    LeaseState state_;
    GroupCommit group_;
};

}  // namespace gipam::store
