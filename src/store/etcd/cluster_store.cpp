#include "store/etcd/cluster_store.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cstdio>
#include <random>
#include <set>

#include "json/json_string.h"
#include "log/log.h"
#include "store/lease_codec.h"

namespace gipam::store {

ClusterStore::ClusterStore(SnapshotStore& local, EtcdClient& etcd, std::string node, std::string prefix)
    : local_(local), etcd_(etcd), node_(std::move(node)), keys_{std::move(prefix)} {}

std::string ClusterStore::blockValue(const std::string& poolId, Scope scope) const {
    // A claim of its own, told apart from an earlier one of the same pool by this host (whose
    // release etcd may still apply late) when a lost answer is settled by reading it back.
    thread_local std::mt19937_64 random(std::random_device{}());
    char claim[17];
    std::snprintf(claim, sizeof claim, "%016llx", static_cast<unsigned long long>(random()));
    return "{\"pool\":" + json::quote(poolId) + ",\"node\":" + json::quote(node_) + ",\"scope\":\"" +
           (scope == Scope::Host ? "host" : "cluster") + "\",\"claim\":\"" + claim + "\"}";
}

void ClusterStore::deleteIfOwned(const std::string& key, const std::function<bool(const std::string&)>& ours) {
    const auto until = etcd_.deadlineFromNow();
    const auto found = etcd_.range(key, {}, 0, until).kvs;
    if (found.empty() || !ours(found[0].value)) return;
    const Compare same{key, Compare::Target::Mod, Compare::Result::Equal, found[0].modRevision, {}, {}};
    write(
        {same}, {remove(key)}, {},
        [&](EtcdClient::Deadline by) {
            const auto now = etcd_.range(key, {}, 0, by).kvs;
            return now.empty() || now[0].modRevision != found[0].modRevision;
        },
        until);
}

std::vector<Compare> ClusterStore::blockIsFree(const ip::Prefix& block) const {
    std::vector<Compare> compares;
    // A block starting inside this one (or at its start): one compare over the key range.
    Compare inside = absent(keys_.blocksAt(block.network()));
    inside.rangeEnd = prefixEnd(keys_.blocksAt(block.last()));
    compares.push_back(inside);
    // A block containing it: one of its ancestors, at most 127 of them (no pool is a /0).
    for (int length = 1; length < block.length(); ++length) {
        const auto ancestor = truncated(block, length);
        if (ancestor.network() != block.network()) compares.push_back(absent(keys_.block(ancestor)));
    }
    return compares;
}

Operation ClusterStore::blocksFrom(const ip::Prefix& block) const {
    // The blocks at and after this one: what the caller would stumble on next.
    return read(keys_.blocksAt(block.network()), prefixEnd(keys_.blocks(block.family())),
                64);
}

Conflict ClusterStore::blockConflict(const ip::Prefix& block, const std::vector<KeyValue>& after) {
    std::vector<PoolRecord> blocks;
    std::optional<PoolRecord> holder;
    std::string holderNode;
    const auto note = [&](const KeyValue& kv) {
        const auto prefix = keys_.blockOf(kv.key);
        if (!prefix) return;
        const auto value = decodeBlockValue(kv.value);
        PoolRecord record{value.pool, *prefix, std::nullopt, {}, std::nullopt, {}};
        if (!holder && prefix->overlaps(block)) {
            holder = record;
            holderNode = value.node;
        }
        blocks.push_back(std::move(record));
    };
    for (const auto& kv : after) note(kv);
    if (!holder) {
        // The one in the way contains the block and starts before it: one of its ancestors.
        std::vector<Operation> ancestors;
        for (int length = 1; length < block.length(); ++length) ancestors.push_back(read(keys_.block(truncated(block, length))));
        for (const auto& found : etcd_.txn({}, ancestors).ranges) {
            for (const auto& kv : found) note(kv);
        }
    }
    std::string message = "subnet " + block.toString() + " is taken in etcd";
    if (holder) {
        message = "subnet " + block.toString() + " overlaps " + holder->pool.toString() + " of pool " + holder->id +
                  (holderNode == node_ ? " (this host's)" : " held by host " + holderNode);
    }
    Conflict conflict(message);
    conflict.blocks = std::move(blocks);
    conflict.holder = std::move(holder);
    return conflict;
}

TxnResult ClusterStore::write(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                              const std::vector<Operation>& failure,
                              const std::function<bool(EtcdClient::Deadline)>& applied,
                              std::optional<EtcdClient::Deadline> by) {
    const auto until = by.value_or(etcd_.deadlineFromNow());
    try {
        return etcd_.txn(compares, success, failure, until);
    } catch (const EtcdOutcomeUnknown& unknown) {
        bool done = false;
        try {
            done = applied(until);
        } catch (const EtcdUnavailable& error) {
            // Neither applied nor not: the caller undoes its change, which leaves at worst a key
            // nobody uses (a leak gipam check reports), never an address handed out twice.
            throw EtcdUnavailable(std::string(unknown.what()) + "; reading it back failed too: " + error.what());
        }
        if (done) {
            TxnResult result;
            result.succeeded = true;
            return result;
        }
        return etcd_.txn(compares, success, failure, until);
    }
}

Leases ClusterStore::agreePlan(EtcdClient& etcd, const std::string& prefix, const Leases& proposed) {
    const EtcdKeys keys{prefix};
    const Leases plan{proposed.v4, proposed.v6, {}};
    const auto value = encodeLeases(plan);
    TxnResult result;
    try {
        result = etcd.txn({absent(keys.config())}, {put(keys.config(), value)}, {read(keys.config())});
    } catch (const EtcdOutcomeUnknown&) {
        result = etcd.txn({}, {read(keys.config())});
        if (!result.ranges.empty() && !result.ranges[0].empty() && result.ranges[0][0].value == value) return plan;
        result.succeeded = false;
    }
    if (result.succeeded) return plan;
    if (result.ranges.empty() || result.ranges[0].empty()) throw StoreError("etcd lost " + keys.config());
    try {
        return decodeLeases(result.ranges[0][0].value);
    } catch (const FormatError& error) {
        throw StoreError("etcd key " + keys.config() + ": " + error.what());
    }
}

void ClusterStore::claim(const CreatePool& create) {
    const auto& block = create.pool.pool;
    const auto key = keys_.block(block);
    const auto value = blockValue(create.pool.id, Scope::Host);
    const auto result = write(blockIsFree(block), {put(key, value)}, {blocksFrom(block)}, [&](EtcdClient::Deadline until) {
        const auto found = etcd_.range(key, {}, 0, until).kvs;
        return found.size() == 1 && found[0].value == value;
    });
    if (!result.succeeded) throw blockConflict(block, result.ranges.at(0));
}

void ClusterStore::unclaim(const ip::Prefix& block, const std::string& poolId) {
    deleteIfOwned(keys_.block(block), [&](const std::string& value) {
        const auto holder = decodeBlockValue(value);
        return holder.node == node_ && holder.pool == poolId && holder.scope == "host";
    });
}

void ClusterStore::createOrJoin(const CreatePool& create) {
    const auto& record = create.pool;
    const auto& block = record.pool;
    if (block.length() > 126) {
        throw StoreError("a pool shared between hosts must be a /126 or larger, not " + block.toString());
    }
    const auto poolKey = keys_.pool(record.id);
    const auto holderKey = keys_.holders(record.id) + node_;
    auto compares = blockIsFree(block);
    compares.push_back(absent(poolKey));
    std::vector<Operation> success{put(poolKey, encodePool(record)), put(keys_.block(block), blockValue(record.id, Scope::Cluster)),
                                   put(holderKey, "")};
    std::vector<Operation> failure{read(poolKey), blocksFrom(block), read(poolKey + "/name")};
    if (!create.name.empty()) {
        compares.push_back(absent(keys_.name(create.name)));
        success.push_back(put(keys_.name(create.name), record.id));
        success.push_back(put(poolKey + "/name", create.name));
        failure.push_back(read(keys_.name(create.name)));
    }
    const auto applied = [&](EtcdClient::Deadline until) { return !etcd_.range(holderKey, {}, 0, until).kvs.empty(); };
    const auto result = write(compares, success, failure, applied);
    if (result.succeeded) {
        std::lock_guard lock(revisionsMutex_);
        seen_[record.id] = result.revision;  // a new pool: nothing in it before
        return;
    }
    const auto& existing = result.ranges.at(0);
    const auto& storedName = result.ranges.at(2);
    // The same pool under the same name (none for swarm's) is joined; under another name it is
    // another network that happens to have this block.
    const bool sameName = storedName.empty() ? create.name.empty() : storedName[0].value == create.name;
    if (!existing.empty() && sameName) {
        const auto stored = decodePool(existing[0].value);
        if (!stored || stored->pool != record.pool || stored->subPool != record.subPool) {
            throw Conflict("pool " + record.id + " is stored differently in etcd");
        }
        // Another host created it: join, as long as it is still the same pool.
        Compare same{poolKey, Compare::Target::Mod, Compare::Result::Equal, existing[0].modRevision, {}, {}};
        if (!write({same}, {put(holderKey, "")}, {}, applied).succeeded) {
            throw Conflict("pool " + record.id + " changed in etcd while this host joined it");
        }
        return;
    }
    if (!create.name.empty() && result.ranges.size() > 3 && !result.ranges[3].empty()) {
        throw Conflict("the shared pool named " + create.name + " is " + result.ranges[3][0].value + " in etcd");
    }
    throw blockConflict(block, result.ranges.at(1));
}

void ClusterStore::leave(const std::string& poolId) {
    deleteIfOwned(keys_.holders(poolId) + node_, [](const std::string&) { return true; });
    deleteIfUnheld(etcd_, keys_, poolId);
    std::lock_guard lock(revisionsMutex_);
    seen_.erase(poolId);
}

void ClusterStore::reserve(const ReserveAddress& change) {
    const auto key = keys_.address(change.poolId, change.address);
    const auto value = (change.holder.empty() ? node_ : change.holder) + (change.heldOnce ? " once" : "");
    std::int64_t since;
    {
        std::lock_guard lock(revisionsMutex_);
        // One write per key at a time from this host, so that a lost answer is settled soundly:
        // a key of this host's created after the pool was last read is then this write's.
        if (!writing_.insert(key).second) {
            throw Conflict("address " + change.address.toString() + " of pool " + change.poolId +
                           " is being reserved by another request on this host");
        }
        since = seen_[change.poolId];
    }
    const std::unique_ptr<void, std::function<void(void*)>> written(this, [this, key](void*) {
        std::lock_guard lock(revisionsMutex_);
        writing_.erase(key);
    });
    // On a conflict, what changed in the pool since it was last read comes back in the same
    // round trip: the caller's next pick is then likely free.
    const auto result = write({absent(key)}, {put(key, value)},
                              {read(key), read(keys_.addresses(change.poolId), prefixEnd(keys_.addresses(change.poolId)),
                                               0, since + 1)},
                              [&](EtcdClient::Deadline until) {
                                  const auto found = etcd_.range(key, {}, 0, until).kvs;
                                  return found.size() == 1 && found[0].value == value && found[0].createRevision > since;
                              });
    if (result.succeeded) return;
    const auto& existing = result.ranges.at(0);
    const bool heldOnce = !existing.empty() && existing[0].value.size() > 5 &&
                          existing[0].value.compare(existing[0].value.size() - 5, 5, " once") == 0;
    if (change.heldOnce && heldOnce) return;  // a shared pool's gateway: held once, for every host
    if (change.again && !existing.empty() && existing[0].value == value) return;
    Conflict conflict("address " + change.address.toString() + " of pool " + change.poolId + " is held by host " +
                      (existing.empty() ? std::string("(gone)") : existing[0].value.substr(0, existing[0].value.find(' '))));
    PoolRecord fresh{change.poolId, ip::Prefix(change.address, ip::bitWidth(change.address.family())), std::nullopt,
                     {}, std::nullopt, {}};
    std::vector<ip::Address> held{change.address};
    const auto start = keys_.addresses(change.poolId);
    for (const auto& kv : result.ranges.at(1)) {
        try {
            held.push_back(ip::Address::parse(kv.key.substr(start.size())));
        } catch (const ip::ParseError&) {
        }
    }
    fresh.addresses = toRuns(std::move(held));
    conflict.pool = std::move(fresh);
    {
        std::lock_guard lock(revisionsMutex_);
        auto& seen = seen_[change.poolId];
        seen = std::max(seen, result.revision);
    }
    throw conflict;
}

void ClusterStore::free(const FreeAddress& change) {
    // Only the holder's own: an address held once (a gateway) stays until the pool goes.
    const auto holder = change.holder.empty() ? node_ : change.holder;
    deleteIfOwned(keys_.address(change.poolId, change.address), [&](const std::string& value) { return value == holder; });
}

std::optional<PoolRecord> ClusterStore::readPool(const std::string& poolId) {
    const auto stored = etcd_.range(keys_.pool(poolId));
    if (stored.kvs.empty()) return std::nullopt;
    auto record = decodePool(stored.kvs[0].value);
    if (!record) throw StoreError("etcd key " + keys_.pool(poolId) + " does not hold a pool");
    const auto start = keys_.addresses(poolId);
    const auto addresses = etcd_.rangeAll(start, prefixEnd(start));
    std::vector<ip::Address> held;
    for (const auto& kv : addresses.kvs) {
        try {
            held.push_back(ip::Address::parse(kv.key.substr(start.size())));
        } catch (const ip::ParseError&) {
        }
    }
    record->addresses = toRuns(std::move(held));
    std::lock_guard lock(revisionsMutex_);
    seen_[poolId] = addresses.revision;
    return record;
}

std::optional<PoolRecord> ClusterStore::findShared(const std::string& name) {
    const auto named = etcd_.range(keys_.name(name)).kvs;
    if (named.empty()) return std::nullopt;
    return readPool(named[0].value);
}

void ClusterStore::commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo) {
    // Runs an etcd step without the lock; if it throws, the caller's change is undone.
    const auto inEtcd = [&](const std::function<void()>& step) {
        lock.unlock();
        try {
            step();
        } catch (...) {
            lock.lock();
            undo();
            lock.unlock();
            throw;
        }
        lock.lock();
    };
    if (const auto* create = std::get_if<CreatePool>(&change)) {
        if (create->scope == Scope::Host) {
            if (!create->sharesBlock) inEtcd([&] { claim(*create); });
            try {
                local_.commit(lock, change, std::move(undo));
            } catch (const StoreError&) {
                if (!create->sharesBlock) {
                    try {
                        unclaim(create->pool.pool, create->pool.id);
                    } catch (const StoreError&) {
                    }
                }
                throw;
            }
            return;
        }
        inEtcd([&] { createOrJoin(*create); });
        CreatePool reference = *create;  // this host holds it; its addresses are in etcd
        reference.pool.addresses.clear();
        try {
            local_.commit(lock, reference, std::move(undo));
        } catch (const StoreError&) {
            try {
                leave(create->pool.id);
            } catch (const StoreError&) {
            }
            throw;
        }
        return;
    }
    if (const auto* remove = std::get_if<DeletePool>(&change)) {
        const PoolRecord* stored = local_.find(remove->poolId);
        const std::optional<ip::Prefix> block = stored ? std::optional(stored->pool) : std::nullopt;
        local_.commit(lock, change, std::move(undo));
        // Durable here; etcd's side follows. Should it fail, the claim stays (no other host can
        // take the block) until this host's next start frees it.
        try {
            if (remove->scope == Scope::Cluster) {
                leave(remove->poolId);
            } else if (!remove->sharesBlock && block) {
                unclaim(*block, remove->poolId);
            }
        } catch (const StoreError& error) {
            log::warning("pool " + remove->poolId + " is released here, but etcd still shows it held: " + error.what() +
                         " (freed at this host's next start)");
        }
        return;
    }
    if (const auto* reserveChange = std::get_if<ReserveAddress>(&change); reserveChange && reserveChange->scope == Scope::Cluster) {
        inEtcd([&] { reserve(*reserveChange); });
        lock.unlock();
        return;
    }
    if (const auto* freeChange = std::get_if<FreeAddress>(&change); freeChange && freeChange->scope == Scope::Cluster) {
        inEtcd([&] { free(*freeChange); });
        lock.unlock();
        return;
    }
    local_.commit(lock, change, std::move(undo));
}

}  // namespace gipam::store
