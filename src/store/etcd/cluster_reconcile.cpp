// ClusterStore's side of hosts joining (reconcile at start) and leaving for good (node remove).
#include <set>

#include "log/log.h"
#include "store/etcd/cluster_store.h"

namespace gipam::store {

NodeRemoval ClusterStore::removeNode(EtcdClient& etcd, const std::string& prefix, const std::string& node) {
    const EtcdKeys keys{prefix};
    NodeRemoval removal;
    const auto deleteIfSame = [&](const KeyValue& kv) {
        Compare same{kv.key, Compare::Target::Mod, Compare::Result::Equal, kv.modRevision, {}, {}};
        return etcd.txn({same}, {remove(kv.key)}).succeeded;
    };
    for (const auto family : {ip::Family::V4, ip::Family::V6}) {
        const auto start = keys.blocks(family);
        for (const auto& kv : etcd.rangeAll(start, prefixEnd(start)).kvs) {
            const auto holder = decodeBlockValue(kv.value);
            if (holder.node == node && holder.scope == "host" && deleteIfSame(kv)) ++removal.blocks;
        }
    }
    const auto pools = keys.prefix + "/pools/";
    std::set<std::string> left;
    for (const auto& kv : etcd.rangeAll(pools, prefixEnd(pools)).kvs) {
        const auto holders = kv.key.rfind("/holders/");
        const auto addresses = kv.key.rfind("/addresses/");
        if (holders != std::string::npos && kv.key.substr(holders + 9) == node) {
            if (deleteIfSame(kv)) left.insert(kv.key.substr(pools.size(), holders - pools.size()));
        } else if (addresses != std::string::npos && kv.value == node && deleteIfSame(kv)) {
            ++removal.addresses;
        }
    }
    removal.pools = left.size();
    for (const auto& poolId : left) deleteIfUnheld(etcd, keys, poolId);
    return removal;
}

void ClusterStore::reconcile(const Leases& local, const std::function<Scope(const PoolRecord&)>& scopeOf) {
    std::map<std::string, const PoolRecord*> hostPools;
    std::map<std::pair<ip::Family, ip::U128>, int> prefixes;  // pools per prefix: 2 for a swarm pool and its copy
    for (const auto& pool : local.pools) ++prefixes[{pool.pool.family(), pool.pool.network().value()}];
    for (const auto& pool : local.pools) {
        if (scopeOf(pool) == Scope::Host && prefixes[{pool.pool.family(), pool.pool.network().value()}] == 1) {
            hostPools.emplace(pool.id, &pool);
        }
    }
    std::set<std::string> claimed;
    for (const auto family : {ip::Family::V4, ip::Family::V6}) {
        const auto start = keys_.blocks(family);
        for (const auto& kv : etcd_.rangeAll(start, prefixEnd(start)).kvs) {
            const auto holder = decodeBlockValue(kv.value);
            const auto block = keys_.blockOf(kv.key);
            if (holder.node != node_ || holder.scope != "host" || !block) continue;
            if (hostPools.count(holder.pool)) {
                claimed.insert(holder.pool);
                continue;
            }
            unclaim(*block, holder.pool);
            log::info("freed block " + block->toString() + " in etcd: this host claimed it for pool " + holder.pool +
                      ", which its lease file does not hold");
        }
    }
    for (const auto& [id, pool] : hostPools) {
        if (claimed.count(id)) continue;
        try {
            claim(CreatePool{*pool, Scope::Host, false, {}});
        } catch (const Conflict& conflict) {
            // A swarm node's copy of a network whose pool etcd keeps: the block is that pool's.
            const auto held = etcd_.range(keys_.block(pool->pool)).kvs;
            if (!held.empty() && decodeBlockValue(held[0].value).scope == "cluster") continue;
            throw StoreError("pool " + id + " of the lease file cannot be claimed in etcd: " + conflict.what());
        }
        log::info("claimed block " + pool->pool.toString() + " in etcd for pool " + id + " of the lease file");
    }
}

}  // namespace gipam::store
