#include "store/snapshot_store.h"

namespace gipam::store {

SnapshotStore::SnapshotStore(const Leases& initial, std::function<void(const Leases&)> write)
    : state_(initial), group_([this] { return state_.leases(); }, std::move(write)) {}

void SnapshotStore::commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo, Deadline) {
    std::function<void()> revert;
    try {
        revert = state_.apply(change);
    } catch (const StoreError&) {
        undo();
        lock.unlock();
        throw;
    }
    group_.commit(lock, [revert = std::move(revert), undo = std::move(undo)] {
        revert();
        undo();
    });
}

}  // namespace gipam::store
