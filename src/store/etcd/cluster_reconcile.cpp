// ClusterStore's reconcile: etcd made to match what this node's lease file holds.
#include <algorithm>
#include <set>

#include "log/log.h"
#include "store/etcd/cluster_store.h"

namespace gipam::store {

bool ClusterStore::hasLostWrites() const {
    std::lock_guard lock(mutex_);
    return !lost_.empty();
}

std::size_t ClusterStore::settleLostWrites(Deadline by) {
    requireIdentity(by);
    const std::unique_lock exclusive(reconcileMutex_);
    return settleLostWrites(exclusive, by);
}

// Writes whose outcome stayed unknown, and releases etcd did not take: removed if they are there
// and nothing here uses them. What etcd does not answer stays remembered.
std::size_t ClusterStore::settleLostWrites(const std::unique_lock<std::shared_mutex>&, Deadline by) {
    std::size_t freed = 0;
    std::map<std::string, Registered> pools;
    std::vector<Lost> lost;
    {
        std::lock_guard lock(mutex_);
        pools = pools_;
        lost.swap(lost_);
    }
    for (auto& write : lost) {
        try {
            const auto found = etcd_.range(write.key, {}, by).kvs;
            if (found.empty()) continue;
            if (write.hold) {
                const auto parts = keys_.poolKeyOf(write.key);
                const bool used = std::any_of(pools.begin(), pools.end(), [&](const auto& entry) {
                    const auto& pool = entry.second.record;
                    return parts.kind == EtcdKeys::PoolKey::Kind::Holder ? pool.id == write.poolId
                                                                         : pool.copyOf == write.poolId;
                });
                if (used || (!write.value.empty() && found[0].value != write.value)) continue;
            } else if (write.value.empty()) {
                // A release that failed: still this node's, and no allocation here since?
                const auto hold = decodeAddressHold(found[0].value);
                std::lock_guard lock(mutex_);
                if (!hold || hold->node != node() || hold->use != AddressUse::Endpoint || handles_.count(write.key)) continue;
            } else if (found[0].value != write.value) {
                continue;
            }
            if (etcd_.txn({unchangedSince(write.key, found[0].modRevision)}, {remove(write.key)}, {}, by).succeeded) {
                ++freed;
                log::info("freed " + write.key + " in etcd: a write or release whose outcome etcd left unknown");
            }
            if (write.hold) deleteIfUnheld(etcd_, keys_, write.poolId, by);
        } catch (const StoreError&) {
            remember(write);
        }
    }
    return freed;
}

Reconciliation ClusterStore::reconcile(bool atStart, Deadline by) {
    requireIdentity(by);
    const std::unique_lock exclusive(reconcileMutex_);
    Reconciliation result;
    result.freed = settleLostWrites(exclusive, by);
    std::map<std::string, Registered> pools;
    {
        std::lock_guard lock(mutex_);
        pools = pools_;
    }

    // Blocks: each prefix held here must be claimed (by this node, or by the Cluster pool it is
    // or copies); this node's claims no pool here uses are freed.
    std::map<std::pair<ip::Family, ip::U128>, std::vector<const Registered*>> byPrefix;
    for (const auto& [id, pool] : pools) byPrefix[{pool.record.prefix.family(), pool.record.prefix.network().value()}].push_back(&pool);
    std::vector<std::pair<ip::Prefix, KeyValue>> ownClaims;
    for (const auto family : {ip::Family::V4, ip::Family::V6}) {
        const auto start = keys_.blocks(family);
        for (const auto& kv : etcd_.rangeAll(start, prefixEnd(start), by).kvs) {
            const auto claim = decodeBlockClaim(kv.value);
            const auto block = keys_.blockOf(kv.key);
            if (claim && block && claim->node == node() && claim->scope == Scope::Node) ownClaims.emplace_back(*block, kv);
        }
    }
    const auto overlap = [&](const std::string& poolId, const std::string& why) {
        const auto message = "pool " + poolId + " of the lease file cannot be registered in etcd: " + why;
        if (atStart) throw StoreError(message);
        result.overlaps.push_back(message);
    };
    const auto claimedHere = [&](const ip::Prefix& prefix) {
        return std::any_of(ownClaims.begin(), ownClaims.end(), [&](const auto& own) { return own.first == prefix; });
    };
    for (const auto& [key, group] : byPrefix) {
        const ip::Prefix prefix = group.front()->record.prefix;
        const auto cluster = std::find_if(group.begin(), group.end(),
                                          [](const Registered* pool) { return pool->sharing.scope == Scope::Cluster; });
        bool needsClaim = true;
        if (cluster != group.end()) {
            needsClaim = false;
            const auto& record = (*cluster)->record;
            const auto found = etcd_.txn({}, {read(keys_.pool(record.id)), read(keys_.holder(record.id, node()))}, {}, by).ranges;
            try {
                if (found.at(0).empty()) {
                    createOrJoin(CreatePool{record, (*cluster)->sharing}, by);
                    ++result.registered;
                    log::info("registered pool " + record.id + " of the lease file in etcd");
                } else if (found.at(1).empty()) {
                    createOrJoin(CreatePool{record, (*cluster)->sharing}, by);  // joins it again
                    ++result.registered;
                    log::info("registered this node as a holder of pool " + record.id + " in etcd again");
                }
            } catch (const Conflict& conflict) {
                overlap(record.id, conflict.what());
                continue;
            }
            // Addresses a lease file kept while it served without etcd become this node's.
            for (const auto& run : (*cluster)->unregistered) {
                for (ip::U128 value = run.first.value(); value <= run.last.value(); ++value) {
                    const ip::Address address(run.first.family(), value);
                    const auto addressKey = keys_.address(record.id, address);
                    const auto hold = encodeAddressHold({node(), node(), AddressUse::Endpoint, newNonce(), {}});
                    if (etcd_.txn({absent(addressKey)}, {put(addressKey, hold)}, {}, by).succeeded) {
                        std::lock_guard lock(mutex_);
                        handles_[addressKey] = hold;
                    } else {
                        log::error("address " + address.toString() + " of pool " + record.id +
                                   " in the lease file is held by another node in etcd: two containers may have it");
                    }
                }
            }
            std::lock_guard lock(mutex_);
            if (const auto it = pools_.find(record.id); it != pools_.end()) it->second.unregistered.clear();
        }
        for (const Registered* pool : group) {
            const auto& record = pool->record;
            if (record.copyOf.empty() || !copiesClusterPool(record.copyOf)) continue;
            needsClaim = false;
            const auto found = etcd_.txn({}, {read(keys_.pool(record.copyOf)), read(keys_.copy(record.copyOf, node()))}, {}, by).ranges;
            if (found.at(0).empty()) {
                // The swarm pool went while this copy lived: the copy keeps the block as this node's.
                needsClaim = true;
            } else if (found.at(1).empty()) {
                try {
                    registerCopy(record, by);
                    ++result.registered;
                    log::info("registered pool " + record.id + " in etcd as this node's copy of " + record.copyOf);
                } catch (const Conflict&) {
                    needsClaim = true;
                }
            }
        }
        if (!needsClaim || claimedHere(prefix)) continue;
        const auto owner = std::find_if(group.begin(), group.end(), [](const Registered* pool) {
            return pool->sharing.scope == Scope::Node;
        });
        try {
            claim((*owner)->record, by);
            ++result.registered;
            log::info("claimed block " + prefix.toString() + " in etcd for pool " + (*owner)->record.id + " of the lease file");
        } catch (const Conflict& conflict) {
            overlap((*owner)->record.id, conflict.what());
        }
    }
    for (const auto& [block, kv] : ownClaims) {
        if (byPrefix.count({block.family(), block.network().value()})) continue;
        if (etcd_.txn({unchangedSince(kv.key, kv.modRevision)}, {remove(kv.key)}, {}, by).succeeded) {
            ++result.freed;
            const auto claim = decodeBlockClaim(kv.value);
            log::info("freed block " + block.toString() + " in etcd: this node claimed it for pool " +
                      (claim ? claim->pool : std::string("?")) + ", which its lease file does not hold");
        }
    }

    // Holds and copies a crash left between etcd and the lease file: only a scan finds them.
    if (atStart) {
        for (const auto& kv : etcd_.rangeAll(keys_.pools(), prefixEnd(keys_.pools()), by, true).kvs) {
            const auto parts = keys_.poolKeyOf(kv.key);
            if (parts.last != node()) continue;
            bool used = false;
            if (parts.kind == EtcdKeys::PoolKey::Kind::Holder) {
                const auto it = pools.find(parts.poolId);
                used = it != pools.end() && it->second.sharing.scope == Scope::Cluster;
            } else if (parts.kind == EtcdKeys::PoolKey::Kind::Copy) {
                used = std::any_of(pools.begin(), pools.end(),
                                   [&](const auto& entry) { return entry.second.record.copyOf == parts.poolId; });
            } else {
                continue;
            }
            if (used) continue;
            if (etcd_.txn({unchangedSince(kv.key, kv.modRevision)}, {remove(kv.key)}, {}, by).succeeded) ++result.freed;
            deleteIfUnheld(etcd_, keys_, parts.poolId, by);
            log::info("freed " + kv.key + " in etcd: this node's lease file does not hold pool " + parts.poolId);
        }
    }
    return result;
}

std::optional<std::string> ClusterStore::leaked(const KeyValue& kv) const {
    std::lock_guard lock(mutex_);
    if (const auto block = keys_.blockOf(kv.key)) {
        const auto claim = decodeBlockClaim(kv.value);
        if (!claim || claim->node != node() || claim->scope != Scope::Node) return std::nullopt;
        const bool used = std::any_of(pools_.begin(), pools_.end(), [&](const auto& entry) {
            return entry.second.record.prefix == *block;
        });
        if (used) return std::nullopt;
        return "block " + block->toString() + " claimed for pool " + claim->pool + ", which this node does not hold";
    }
    const auto parts = keys_.poolKeyOf(kv.key);
    using Kind = EtcdKeys::PoolKey::Kind;
    const auto held = pools_.find(parts.poolId);
    if (parts.kind == Kind::Holder && parts.last == node()) {
        if (held != pools_.end() && held->second.sharing.scope == Scope::Cluster) return std::nullopt;
        return "a hold of pool " + parts.poolId + ", which this node does not hold";
    }
    if (parts.kind == Kind::Copy && parts.last == node()) {
        const bool used = std::any_of(pools_.begin(), pools_.end(),
                                      [&](const auto& entry) { return entry.second.record.copyOf == parts.poolId; });
        if (used) return std::nullopt;
        return "a copy of swarm pool " + parts.poolId + " that this node does not hold";
    }
    if (parts.kind == Kind::Address) {
        const auto hold = decodeAddressHold(kv.value);
        if (!hold || hold->holder != node() || hold->use != AddressUse::Endpoint || held != pools_.end()) {
            return std::nullopt;
        }
        return "address " + parts.last + " of pool " + parts.poolId + ", which this node does not hold";
    }
    return std::nullopt;
}

std::vector<StoreLeak> ClusterStore::leaks(Deadline by) {
    requireIdentity(by);
    std::vector<StoreLeak> found;
    for (const auto& start : {keys_.blocks(ip::Family::V4), keys_.blocks(ip::Family::V6), keys_.pools()}) {
        for (const auto& kv : etcd_.rangeAll(start, prefixEnd(start), by).kvs) {
            if (const auto what = leaked(kv)) found.push_back({kv.key, kv.modRevision, *what});
        }
    }
    return found;
}

bool ClusterStore::freeLeak(const StoreLeak& leak, Deadline by) {
    requireIdentity(by);
    const std::unique_lock exclusive(reconcileMutex_);  // no pool half made meanwhile
    const auto found = etcd_.range(leak.key, {}, by).kvs;
    if (found.empty() || found[0].modRevision != leak.version || !leaked(found[0])) return false;
    if (!etcd_.txn({unchangedSince(leak.key, leak.version)}, {remove(leak.key)}, {}, by).succeeded) return false;
    const auto parts = keys_.poolKeyOf(leak.key);
    if (parts.kind == EtcdKeys::PoolKey::Kind::Holder || parts.kind == EtcdKeys::PoolKey::Kind::Copy) {
        deleteIfUnheld(etcd_, keys_, parts.poolId, by);
    }
    return true;
}

NodeRemoval ClusterStore::removeNode(EtcdClient& etcd, const std::string& prefix, const std::string& node, Deadline by) {
    const EtcdKeys keys{prefix};
    if (node.empty()) throw StoreError("node remove needs a node ID");
    if (node == kSwarmHolder) {
        throw StoreError("\"swarm\" is not a node: it holds a swarm pool's addresses for every manager");
    }
    const auto registration = etcd.txn({}, {read(keys.node(node)), read(keys.alive(node))}, {}, by).ranges;
    if (!registration.at(1).empty()) {
        const auto alive = decodeNodeAlive(registration[1][0].value);
        throw StoreError("node " + node + " is running (" +
                         (alive ? "pid " + std::to_string(alive->pid) + " on host " + alive->hostname : std::string("?")) +
                         "): stop its gipam first");
    }
    NodeRemoval removal;
    const auto deleteIfSame = [&](const KeyValue& kv) {
        return etcd.txn({unchangedSince(kv.key, kv.modRevision)}, {remove(kv.key)}, {}, by).succeeded;
    };
    for (const auto family : {ip::Family::V4, ip::Family::V6}) {
        const auto start = keys.blocks(family);
        for (const auto& kv : etcd.rangeAll(start, prefixEnd(start), by).kvs) {
            const auto claim = decodeBlockClaim(kv.value);
            if (claim && claim->node == node && claim->scope == Scope::Node && deleteIfSame(kv)) ++removal.blocks;
        }
    }
    std::set<std::string> left;
    for (const auto& kv : etcd.rangeAll(keys.pools(), prefixEnd(keys.pools()), by).kvs) {
        const auto parts = keys.poolKeyOf(kv.key);
        using Kind = EtcdKeys::PoolKey::Kind;
        if ((parts.kind == Kind::Holder || parts.kind == Kind::Copy) && parts.last == node) {
            if (deleteIfSame(kv)) left.insert(parts.poolId);
        } else if (parts.kind == Kind::Address) {
            // Its containers' addresses; the pool's gateway and aux addresses stay with the pool.
            const auto hold = decodeAddressHold(kv.value);
            if (hold && hold->holder == node && hold->use == AddressUse::Endpoint && deleteIfSame(kv)) ++removal.addresses;
        }
    }
    removal.pools = left.size();
    for (const auto& poolId : left) {
        deleteIfUnheld(etcd, keys, poolId, by);
        if (etcd.range(keys.pool(poolId), {}, by).kvs.empty()) ++removal.deleted;
    }
    const bool registered = !registration.at(0).empty();
    if (!registered && removal.blocks == 0 && removal.pools == 0 && removal.addresses == 0) {
        std::string nodes;
        for (const auto& kv : etcd.rangeAll(keys.nodes(), prefixEnd(keys.nodes()), by, true).kvs) {
            const auto name = kv.key.substr(keys.nodes().size());
            if (name.find('/') == std::string::npos) nodes += (nodes.empty() ? "" : ", ") + name;
        }
        throw StoreError("etcd knows no node " + node + " under " + prefix + " (registered nodes: " +
                         (nodes.empty() ? "none" : nodes) + "); nothing was freed");
    }
    if (registered) deleteIfSame(registration[0][0]);
    return removal;
}

}  // namespace gipam::store
