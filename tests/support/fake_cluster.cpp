#include "support/fake_cluster.h"

#include <thread>

#include "store/lease_codec.h"

namespace gipam::testing {

FakeNodeStore::FakeNodeStore(FakeCluster& cluster, std::string node, const store::Leases& leases)
    : cluster_(cluster), node_(std::move(node)), local_(leases) {}

void FakeNodeStore::script(Fault fault) {
    std::lock_guard lock(mutex_);
    faults_.push_back(fault);
}

std::optional<Fault> FakeNodeStore::nextFault() {
    std::lock_guard lock(mutex_);
    if (faults_.empty()) return std::nullopt;
    const auto fault = faults_.front();
    faults_.pop_front();
    return fault;
}

store::Leases FakeNodeStore::persisted() const {
    std::lock_guard lock(mutex_);
    return local_.leases();
}

store::ClusterPoolView FakeNodeStore::view(const FakeCluster::Pool& pool) const {
    std::vector<ip::Address> all, shared, own;
    for (const auto& [address, hold] : pool.addresses) {
        all.push_back(address);
        if (hold.use == store::AddressUse::Shared) shared.push_back(address);
        else if (hold.node == node_ || hold.node == "swarm") own.push_back(address);
    }
    auto record = pool.record;
    record.addresses = store::toRuns(std::move(all));
    return {std::move(record), store::toRuns(std::move(shared)), store::toRuns(std::move(own))};
}

void FakeNodeStore::apply(const store::Change& change) {
    const auto claimFree = [&](const ip::Prefix& prefix, const std::string& poolId) {
        for (const auto& [key, entry] : cluster_.blocks) {
            if (!entry.first.overlaps(prefix) || entry.second.poolId == poolId) continue;
            store::Conflict conflict("subnet " + prefix.toString() + " overlaps " + entry.first.toString() + " of pool " +
                                     entry.second.poolId + " held by node " + entry.second.node);
            conflict.blockInTheWay = store::PoolRecord{entry.second.poolId, entry.first, {}, {}, {}, {}, {}};
            conflict.blocks.push_back(*conflict.blockInTheWay);
            throw conflict;
        }
    };
    const auto key = [](const ip::Prefix& prefix) { return std::make_pair(prefix.family(), prefix.network().value()); };
    std::lock_guard lock(mutex_);
    if (const auto* create = std::get_if<store::CreatePool>(&change)) {
        const auto& record = create->record;
        if (create->sharing.scope == store::Scope::Cluster) {
            auto existing = cluster_.pools.find(record.id);
            if (existing == cluster_.pools.end()) {
                claimFree(record.prefix, record.id);
                if (!create->sharing.name.empty() && cluster_.names.count(create->sharing.name)) {
                    throw store::Conflict("the shared pool named " + create->sharing.name + " is " +
                                          cluster_.names[create->sharing.name]);
                }
                FakeCluster::Pool pool{record, create->sharing.name, {}, {}};
                pool.record.addresses.clear();
                existing = cluster_.pools.emplace(record.id, std::move(pool)).first;
                cluster_.blocks.insert_or_assign(key(record.prefix), std::make_pair(record.prefix, FakeCluster::Block{record.id, node_}));
                if (!create->sharing.name.empty()) cluster_.names[create->sharing.name] = record.id;
            } else if (existing->second.name != create->sharing.name) {
                throw store::Conflict("pool " + record.id + " is shared under another name");
            }
            existing->second.holders.insert(node_);
            store::CreatePool reference = *create;
            reference.record.addresses.clear();
            local_.apply(reference);
            clusterPools_.insert(record.id);
        } else {
            if (!record.copyOf.empty()) {
                const bool known = cluster_.pools.count(record.copyOf) || local_.find(record.copyOf);
                if (!known) throw store::Conflict("swarm pool " + record.copyOf + " is gone");
            } else {
                claimFree(record.prefix, "");
                cluster_.blocks.insert_or_assign(key(record.prefix), std::make_pair(record.prefix, FakeCluster::Block{record.id, node_}));
            }
            local_.apply(change);
        }
    } else if (const auto* remove = std::get_if<store::DeletePool>(&change)) {
        const auto* stored = local_.find(remove->poolId);
        const auto prefix = stored ? std::optional(stored->prefix) : std::nullopt;
        local_.apply(change);
        if (clusterPools_.erase(remove->poolId)) {
            auto& pool = cluster_.pools.at(remove->poolId);
            pool.holders.erase(node_);
            if (pool.holders.empty()) {
                cluster_.blocks.erase(key(pool.record.prefix));
                cluster_.names.erase(pool.name);
                cluster_.pools.erase(remove->poolId);
            }
        } else if (prefix) {
            const auto block = cluster_.blocks.find(key(*prefix));
            if (block != cluster_.blocks.end() && block->second.second.poolId == remove->poolId) cluster_.blocks.erase(block);
        }
    } else if (const auto* reserve = std::get_if<store::ReserveAddress>(&change)) {
        if (!reserve->sharing) {
            local_.apply(change);
        } else {
            auto& pool = cluster_.pools.at(reserve->poolId);
            const auto holder = reserve->sharing->bySwarm ? std::string("swarm") : node_;
            const auto found = pool.addresses.find(reserve->address);
            if (found != pool.addresses.end()) {
                const bool joined = reserve->sharing->use == store::AddressUse::Shared && found->second.use == store::AddressUse::Shared;
                const bool retaken = reserve->sharing->retake && found->second.node == "swarm";
                if (!joined && !retaken) {
                    store::Conflict conflict("address " + reserve->address.toString() + " of pool " + reserve->poolId +
                                             " is held by node " + found->second.node);
                    conflict.pool = view(pool);
                    throw conflict;
                }
            } else {
                pool.addresses.emplace(reserve->address, FakeCluster::Hold{holder, reserve->sharing->use});
            }
        }
    } else {
        const auto& free = std::get<store::FreeAddress>(change);
        if (!free.sharing) {
            local_.apply(change);
        } else if (auto pool = cluster_.pools.find(free.poolId); pool != cluster_.pools.end()) {
            const auto holder = free.sharing->bySwarm ? std::string("swarm") : node_;
            const auto found = pool->second.addresses.find(free.address);
            if (found != pool->second.addresses.end() && found->second.node == holder &&
                found->second.use == store::AddressUse::Endpoint) {
                pool->second.addresses.erase(found);
            }
        }
    }
    ++cluster_.writes;
}

void FakeNodeStore::commit(std::unique_lock<std::mutex>& lock, const store::Change& change, Undo undo,
                           store::Deadline) {
    lock.unlock();
    const auto fault = nextFault();
    try {
        if (fault == Fault::SlowConflict) std::this_thread::sleep_for(slowFor);
        if (fault == Fault::Conflict || fault == Fault::SlowConflict) {
            throw store::Conflict("scripted conflict with another node");
        }
        if (fault == Fault::NotAppliedUnknown) throw store::StoreError("scripted: no answer (the write was not applied)");
        if (fault == Fault::Slow) std::this_thread::sleep_for(slowFor);
        {
            std::lock_guard cluster(cluster_.mutex);
            apply(change);
        }
        if (fault == Fault::AppliedUnknown) throw store::StoreError("scripted: no answer (the write was applied)");
    } catch (...) {
        lock.lock();
        undo();
        lock.unlock();
        throw;
    }
}

std::optional<store::ClusterPoolView> FakeNodeStore::readPool(const std::string& poolId, store::Deadline) {
    std::lock_guard cluster(cluster_.mutex);
    const auto pool = cluster_.pools.find(poolId);
    if (pool == cluster_.pools.end()) return std::nullopt;
    return view(pool->second);
}

std::optional<store::ClusterPoolView> FakeNodeStore::findShared(const std::string& name, store::Deadline by) {
    std::string poolId;
    {
        std::lock_guard cluster(cluster_.mutex);
        const auto named = cluster_.names.find(name);
        if (named == cluster_.names.end()) return std::nullopt;
        poolId = named->second;
    }
    return readPool(poolId, by);
}

}  // namespace gipam::testing
