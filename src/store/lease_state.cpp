#include "store/lease_state.h"

#include <memory>

namespace gipam::store {

LeaseState::LeaseState(const Leases& leases)
    : v4_(leases.v4), v6_(leases.v6), node_(leases.node), excluded_(leases.excluded) {
    // As stored, checks left to the IPAM service, which refuses a lease file with the same ID
    // twice, naming the file (the first of the two is kept here).
    for (const auto& record : leases.pools) {
        if (pools_.count(record.id)) continue;
        apply(CreatePool{record, {}});
    }
}

LeaseState::Pool& LeaseState::existing(const std::string& poolId, const char* change) {
    const auto it = pools_.find(poolId);
    if (it == pools_.end()) throw StoreError(std::string(change) + " of unknown pool " + poolId);
    return it->second;
}

std::function<void()> LeaseState::apply(const Change& change) {
    if (const auto* create = std::get_if<CreatePool>(&change)) {
        const auto& record = create->record;
        if (pools_.count(record.id)) throw StoreError("pool " + record.id + " is created twice");
        Pool pool{record, {}, {}};
        pool.record.addresses.clear();
        pool.record.cooling.clear();
        for (const auto& run : record.addresses) {
            pool.held.insertRun(record.prefix.offsetOf(run.first), record.prefix.offsetOf(run.last));
        }
        for (const auto& cooling : record.cooling) {
            pool.cooling[record.prefix.offsetOf(cooling.address)] = cooling.until;
        }
        pools_.emplace(record.id, std::move(pool));
        return [this, id = record.id] { pools_.erase(id); };
    }
    if (const auto* remove = std::get_if<DeletePool>(&change)) {
        existing(remove->poolId, "deleting");
        auto node = std::make_shared<decltype(pools_)::node_type>(pools_.extract(remove->poolId));
        return [this, node] { pools_.insert(std::move(*node)); };
    }
    if (const auto* reserve = std::get_if<ReserveAddress>(&change)) {
        Pool& pool = existing(reserve->poolId, "reserving an address");
        const auto& prefix = pool.record.prefix;
        if (!prefix.contains(reserve->address) || !pool.held.insert(prefix.offsetOf(reserve->address))) {
            throw StoreError("address " + reserve->address.toString() + " of pool " + reserve->poolId +
                             " cannot be reserved (outside the pool or held)");
        }
        const auto previous = pool.record.cursor;
        pool.record.cursor = reserve->cursor;
        const ip::U128 offset = prefix.offsetOf(reserve->address);
        std::optional<std::chrono::system_clock::time_point> cooled;
        if (const auto it = pool.cooling.find(offset); it != pool.cooling.end()) {
            cooled = it->second;
            pool.cooling.erase(it);
        }
        // Reverted by ID: a newer change reverted first may have put back another Pool object.
        return [this, id = reserve->poolId, offset, previous, cooled] {
            auto& undone = pools_.at(id);
            undone.held.erase(offset);
            undone.record.cursor = previous;
            if (cooled) undone.cooling[offset] = *cooled;
        };
    }
    const auto& free = std::get<FreeAddress>(change);
    Pool& pool = existing(free.poolId, "freeing an address");
    const auto& prefix = pool.record.prefix;
    if (!prefix.contains(free.address) || !pool.held.erase(prefix.offsetOf(free.address))) {
        throw StoreError("address " + free.address.toString() + " of pool " + free.poolId + " is not held");
    }
    const ip::U128 offset = prefix.offsetOf(free.address);
    if (free.coolUntil) pool.cooling[offset] = *free.coolUntil;
    return [this, id = free.poolId, offset] {
        auto& undone = pools_.at(id);
        undone.held.insert(offset);
        undone.cooling.erase(offset);
    };
}

const PoolRecord* LeaseState::find(const std::string& poolId) const {
    const auto it = pools_.find(poolId);
    return it == pools_.end() ? nullptr : &it->second.record;
}

Leases LeaseState::leases() const {
    Leases leases{v4_, v6_, {}, node_, excluded_};
    leases.pools.reserve(pools_.size());
    for (const auto& [id, pool] : pools_) {
        PoolRecord record = pool.record;
        record.addresses.reserve(pool.held.runs().size());
        for (const auto& [first, last] : pool.held.runs()) {
            record.addresses.push_back({record.prefix.at(first), record.prefix.at(last)});
        }
        record.cooling.reserve(pool.cooling.size());
        for (const auto& [offset, until] : pool.cooling) record.cooling.push_back({record.prefix.at(offset), until});
        leases.pools.push_back(std::move(record));
    }
    return leases;
}

}  // namespace gipam::store
