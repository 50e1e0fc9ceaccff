// The leases as a store keeps them in memory: changes applied in O(log n), preconditions checked.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "alloc/offset_set.h"
#include "store/change.h"
#include "store/lease_store.h"

namespace gipam::store {

/// Leases indexed by pool ID, held addresses as runs of offsets. Not thread-safe: its owner
/// guards it.
class LeaseState {
public:
    /// The leases as stored; a pool ID given twice keeps its first pool (the IPAM service refuses
    /// such leases).
    explicit LeaseState(const Leases& leases);

    /// Applies `change` and returns what reverts it; throws StoreError naming the change when its
    /// precondition does not hold, changing nothing.
    std::function<void()> apply(const Change& change);

    Leases leases() const;
    /// The pool, or nullptr.
    const PoolRecord* find(const std::string& poolId) const;

private:
    struct Pool {
        PoolRecord record;  // without its addresses and cooling ones, which are these
        alloc::OffsetSet held;
        std::map<ip::U128, std::chrono::system_clock::time_point> cooling;
    };
    Pool& existing(const std::string& poolId, const char* change);

    std::optional<Supernet> v4_;
    std::optional<Supernet> v6_;
    std::optional<NodeIdentity> node_;
    std::vector<AddressRun> excluded_;
    std::map<std::string, Pool> pools_;
};

}  // namespace gipam::store
