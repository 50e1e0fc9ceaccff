#include "store/etcd/cluster_store.h"

#include <algorithm>

#include "log/log.h"
#include "store/lease_codec.h"

namespace gipam::store {
namespace {

// What a write settled by reading it back answers: applied, nothing read.
TxnResult applied() {
    TxnResult result;
    result.succeeded = true;
    return result;
}

}  // namespace

ClusterStore::ClusterStore(SnapshotStore& local, EtcdClient& etcd, NodeRegistration& registration, std::string prefix)
    : local_(local), etcd_(etcd), registration_(registration), keys_{std::move(prefix)} {}

void ClusterStore::adopt(const std::vector<CreatePool>& pools) {
    std::lock_guard lock(mutex_);
    for (const auto& create : pools) {
        Registered registered{create.record, create.sharing, {}};
        registered.record.addresses.clear();
        if (create.sharing.scope == Scope::Cluster) registered.unregistered = create.record.addresses;
        pools_.emplace(create.record.id, std::move(registered));
    }
}

bool ClusterStore::known(const std::string& poolId) const {
    std::lock_guard lock(mutex_);
    return pools_.count(poolId) > 0;
}

void ClusterStore::requireIdentity(Deadline by) {
    if (registration_.fence().empty()) return;
    registration_.establish([this](const std::string& poolId) { return known(poolId); }, by);
}

void ClusterStore::remember(Lost lost) {
    std::lock_guard lock(mutex_);
    const bool already = std::any_of(lost_.begin(), lost_.end(), [&](const Lost& other) {
        return other.key == lost.key && other.value == lost.value;
    });
    if (!already) lost_.push_back(std::move(lost));
}

TxnResult ClusterStore::write(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                              const std::vector<Operation>& failure, const std::function<bool(Deadline)>& ours,
                              const Lost& lost, Deadline by) {
    try {
        return etcd_.txn(compares, success, failure, by);
    } catch (const EtcdOutcomeUnknown& unknown) {
        std::string why = unknown.what();
        try {
            if (ours(by)) return applied();
            auto resent = etcd_.txn(compares, success, failure, by);
            // A resend failing against the first attempt: that one was slow, not lost.
            if (resent.succeeded || !ours(by)) return resent;
            return applied();
        } catch (const EtcdOutcomeUnknown& resendUnknown) {
            why += std::string("; sent again: ") + resendUnknown.what();
            try {
                if (ours(by)) return applied();
            } catch (const StoreError&) {
            }
        } catch (const StoreError& error) {
            why += std::string("; reading it back failed: ") + error.what();
        }
        // Neither applied nor not: the caller undoes its change, and reconcile removes the write
        // should etcd apply it later. No address is ever handed out twice this way.
        remember(lost);
        throw EtcdOutcomeUnknown(why);
    }
}

void ClusterStore::deleteIfOwned(const std::string& key, const std::function<bool(const std::string&)>& ours,
                                 Deadline by, const std::string& replacement) {
    const auto found = etcd_.range(key, {}, by).kvs;
    if (found.empty() || !ours(found[0].value)) return;
    // On the revision read: a delete etcd applies late never removes a later write of the key.
    write(
        {unchangedSince(key, found[0].modRevision)}, {replacement.empty() ? remove(key) : put(key, replacement)}, {},
        [&](Deadline until) {
            const auto now = etcd_.range(key, {}, until).kvs;
            return now.empty() || now[0].modRevision != found[0].modRevision;
        },
        Lost{key, found[0].value, {}, false}, by);
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
    return read(keys_.blocksAt(block.network()), prefixEnd(keys_.blocks(block.family())), 64);
}

Conflict ClusterStore::blockConflict(const ip::Prefix& block, const std::vector<KeyValue>& after, Deadline by) {
    std::vector<PoolRecord> blocks;
    std::optional<PoolRecord> holder;
    std::string holderNode;
    const auto note = [&](const KeyValue& kv) {
        const auto prefix = keys_.blockOf(kv.key);
        const auto claim = decodeBlockClaim(kv.value);
        if (!prefix || !claim) return;
        PoolRecord record{claim->pool, *prefix, std::nullopt, {}, std::nullopt, {}, {}};
        if (!holder && prefix->overlaps(block)) {
            holder = record;
            holderNode = claim->node;
        }
        blocks.push_back(std::move(record));
    };
    for (const auto& kv : after) note(kv);
    if (!holder) {
        // The one in the way contains the block and starts before it: one of its ancestors.
        std::vector<Operation> ancestors;
        for (int length = 1; length < block.length(); ++length) ancestors.push_back(read(keys_.block(truncated(block, length))));
        for (const auto& found : etcd_.txn({}, ancestors, {}, by).ranges) {
            for (const auto& kv : found) note(kv);
        }
    }
    std::string message = "subnet " + block.toString() + " is taken in etcd";
    if (holder) {
        message = "subnet " + block.toString() + " overlaps " + holder->prefix.toString() + " of pool " + holder->id +
                  (holderNode == node() ? " (this node's)" : " held by node " + holderNode);
    }
    Conflict conflict(message);
    conflict.blocks = std::move(blocks);
    conflict.blockInTheWay = std::move(holder);
    return conflict;
}

ClusterPoolView ClusterStore::viewOf(PoolRecord pool, const std::vector<KeyValue>& addresses) const {
    std::vector<ip::Address> all, shared, own;
    pool.cooling.clear();
    for (const auto& kv : addresses) {
        const auto address = keys_.addressOf(pool.id, kv.key);
        if (!address) continue;
        if (const auto cooling = decodeAddressCooling(kv.value)) {
            pool.cooling.push_back({*address, cooling->until});
            continue;
        }
        all.push_back(*address);
        const auto hold = decodeAddressHold(kv.value);
        if (!hold) continue;
        if (hold->use == AddressUse::Shared) shared.push_back(*address);
        else if (hold->holder == node() || hold->holder == kSwarmHolder) own.push_back(*address);
    }
    pool.addresses = toRuns(std::move(all));
    std::sort(pool.cooling.begin(), pool.cooling.end());
    return {std::move(pool), toRuns(std::move(shared)), toRuns(std::move(own))};
}

Leases ClusterStore::agreePlan(EtcdClient& etcd, const std::string& prefix, const Leases& proposed, Deadline by) {
    const EtcdKeys keys{prefix};
    const Leases plan{proposed.v4, proposed.v6, {}, std::nullopt, proposed.excluded};
    const auto value = encodeLeases(plan);
    TxnResult result;
    try {
        result = etcd.txn({absent(keys.config())}, {put(keys.config(), value)}, {read(keys.config())}, by);
    } catch (const EtcdOutcomeUnknown&) {
        result = etcd.txn({}, {read(keys.config())}, {}, by);
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

void ClusterStore::claim(const PoolRecord& pool, Deadline by) {
    const auto& block = pool.prefix;
    const auto key = keys_.block(block);
    const auto value = encodeBlockClaim({pool.id, node(), Scope::Node, newNonce()});
    const auto ours = [&](Deadline until) {
        const auto found = etcd_.range(key, {}, until).kvs;
        return found.size() == 1 && found[0].value == value;
    };
    const auto result = write(blockIsFree(block), {put(key, value)}, {blocksFrom(block)}, ours, Lost{key, value, {}, false}, by);
    if (!result.succeeded) throw blockConflict(block, result.ranges.at(0), by);
}

void ClusterStore::unclaim(const ip::Prefix& block, Deadline by) {
    deleteIfOwned(
        keys_.block(block),
        [&](const std::string& value) {
            const auto claim = decodeBlockClaim(value);
            return claim && claim->node == node() && claim->scope == Scope::Node;
        },
        by);
}

void ClusterStore::createOrJoin(const CreatePool& create, Deadline by) {
    const auto& record = create.record;
    const auto& block = record.prefix;
    if (block.length() > 126) {
        throw StoreError("a pool shared between nodes must be a /126 or larger, not " + block.toString());
    }
    const auto poolKey = keys_.pool(record.id);
    const auto holderKey = keys_.holder(record.id, node());
    const auto hold = newNonce();
    const auto& name = create.sharing.name;
    auto compares = blockIsFree(block);
    compares.push_back(absent(poolKey));
    std::vector<Operation> success{put(poolKey, encodePool(record)),
                                   put(keys_.block(block), encodeBlockClaim({record.id, node(), Scope::Cluster, newNonce()})),
                                   put(holderKey, hold)};
    std::vector<Operation> failure{read(poolKey), blocksFrom(block), read(keys_.poolName(record.id))};
    if (!name.empty()) {
        compares.push_back(absent(keys_.name(name)));
        success.push_back(put(keys_.name(name), record.id));
        success.push_back(put(keys_.poolName(record.id), name));
        failure.push_back(read(keys_.name(name)));
    }
    const auto ours = [&](Deadline until) {
        const auto found = etcd_.range(holderKey, {}, until).kvs;
        return found.size() == 1 && found[0].value == hold;
    };
    const Lost lost{holderKey, hold, record.id, true};
    const auto result = write(compares, success, failure, ours, lost, by);
    if (result.succeeded) return;
    const auto& existing = result.ranges.at(0);
    const auto& storedName = result.ranges.at(2);
    // The same pool under the same name (none for swarm's) is joined; under another name it is
    // another network that happens to have this block.
    const bool sameName = storedName.empty() ? name.empty() : storedName[0].value == name;
    if (!existing.empty() && sameName) {
        const auto stored = decodePool(existing[0].value);
        if (!stored || stored->prefix != record.prefix || stored->subPool != record.subPool) {
            throw Conflict("pool " + record.id + " is stored differently in etcd");
        }
        // Another node created it: join, as long as it is still the same pool.
        if (!write({unchangedSince(poolKey, existing[0].modRevision)}, {put(holderKey, hold)}, {}, ours, lost, by).succeeded) {
            throw Conflict("pool " + record.id + " changed in etcd while this node joined it");
        }
        return;
    }
    if (!name.empty() && result.ranges.size() > 3 && !result.ranges[3].empty()) {
        throw Conflict("the shared pool named " + name + " is " + result.ranges[3][0].value + " in etcd");
    }
    throw blockConflict(block, result.ranges.at(1), by);
}

void ClusterStore::registerCopy(const PoolRecord& copy, Deadline by) {
    const auto key = keys_.copy(copy.copyOf, node());
    const auto value = encodePoolCopy({copy.id, newNonce()});
    const auto ours = [&](Deadline until) {
        const auto found = etcd_.range(key, {}, until).kvs;
        return found.size() == 1 && found[0].value == value;
    };
    const auto result =
        write({present(keys_.pool(copy.copyOf))}, {put(key, value)}, {}, ours, Lost{key, value, copy.copyOf, true}, by);
    if (!result.succeeded) {
        throw Conflict("swarm pool " + copy.copyOf + ", whose block pool " + copy.id + " shares, is gone from etcd");
    }
}

bool ClusterStore::copiesClusterPool(const std::string& copyOf) const {
    std::lock_guard lock(mutex_);
    // A copy of a Node pool of this node shares that pool's claim; any other copy is of a
    // swarm pool kept in etcd (here or on another node).
    const auto it = pools_.find(copyOf);
    return it == pools_.end() || it->second.sharing.scope == Scope::Cluster;
}

void ClusterStore::reserve(const ReserveAddress& change, Deadline by) {
    const auto& sharing = *change.sharing;
    const auto key = keys_.address(change.poolId, change.address);
    const AddressHold hold{sharing.bySwarm ? std::string(kSwarmHolder) : node(), node(), sharing.use, newNonce(),
                           sharing.endpoint};
    const auto value = encodeAddressHold(hold);
    const auto ours = [&](Deadline until) {
        const auto found = etcd_.range(key, {}, until).kvs;
        return found.size() == 1 && found[0].value == value;
    };
    // On a conflict only the key itself comes back. Not what else changed in the pool: etcd runs
    // a transaction's reads in its apply loop and filters by revision only after reading every
    // key, so one conflict in a pool of 20,000 addresses held every host's writes back 100-300 ms.
    // The caller rereads the whole pool, outside any transaction, when conflicts repeat.
    const std::vector<Operation> onConflict{read(key)};
    auto result = write({absent(key)}, {put(key, value)}, onConflict, ours, Lost{key, value, change.poolId, false}, by);
    if (!result.succeeded && !result.ranges.at(0).empty()) {
        // Cooling after a release: taken over if that ended, or if the caller takes it anyway.
        const auto& found = result.ranges.at(0)[0];
        const auto cooling = decodeAddressCooling(found.value);
        if (cooling && (sharing.overCooling || cooling->until <= std::chrono::system_clock::now())) {
            result = write({unchangedSince(key, found.modRevision)}, {put(key, value)}, onConflict, ours,
                           Lost{key, value, change.poolId, false}, by);
        }
    }
    if (result.succeeded) {
        if (sharing.use == AddressUse::Endpoint) {
            std::lock_guard lock(mutex_);
            handles_[key] = value;
        }
        return;
    }
    const auto& existing = result.ranges.at(0);
    const auto other = existing.empty() ? std::nullopt : decodeAddressHold(existing[0].value);
    if (other && sharing.use == AddressUse::Shared && other->use == AddressUse::Shared) return;  // one for every node
    if (other && sharing.retake && other->holder == kSwarmHolder) {
        std::lock_guard lock(mutex_);
        handles_[key] = existing[0].value;
        return;
    }
    std::string heldBy = "(gone)";
    if (const auto cooling = existing.empty() ? std::nullopt : decodeAddressCooling(existing[0].value)) {
        heldBy = "no node: it cools until " + formatTime(cooling->until) + " after its release by node " + cooling->node;
    } else if (other) {
        heldBy = other->use == AddressUse::Shared
                     ? "every node's copy of the network (its gateway or an aux address)"
                     : (other->holder == kSwarmHolder ? std::string("the swarm") : "node " + other->holder) +
                           (other->endpoint.empty() ? "" : " for " + other->endpoint);
    }
    Conflict conflict("address " + change.address.toString() + " of pool " + change.poolId + " is held by " + heldBy);
    conflict.pool = viewOf(PoolRecord{change.poolId, ip::Prefix(change.address, ip::bitWidth(change.address.family())),
                                      std::nullopt, {}, std::nullopt, {}, {}},
                           existing);
    throw conflict;
}

void ClusterStore::free(const FreeAddress& change, Deadline by) {
    const auto key = keys_.address(change.poolId, change.address);
    const std::string holder = change.sharing->bySwarm ? std::string(kSwarmHolder) : node();
    std::string handle;
    {
        std::lock_guard lock(mutex_);
        if (const auto it = handles_.find(key); it != handles_.end()) {
            handle = it->second;
            handles_.erase(it);
        }
    }
    try {
        requireIdentity(by);
        // Under a reuse delay the key stays, saying until when the address cools.
        const std::string cooling =
            change.coolUntil ? encodeAddressCooling({node(), *change.coolUntil}) : std::string();
        if (!handle.empty()) {
            // This allocation's own value: a release never frees a newer allocation of the address.
            write(
                {holds(key, handle)}, {cooling.empty() ? remove(key) : put(key, cooling)}, {},
                [&](Deadline until) {
                    const auto now = etcd_.range(key, {}, until).kvs;
                    return now.empty() || now[0].value != handle;
                },
                Lost{key, handle, change.poolId, false}, by);
            return;
        }
        // Held since before this process started: this node's Endpoint address, as read now.
        deleteIfOwned(
            key,
            [&](const std::string& value) {
                const auto hold = decodeAddressHold(value);
                return hold && hold->holder == holder && hold->use == AddressUse::Endpoint;
            },
            by, cooling);
    } catch (const StoreError& error) {
        log::warning("address " + change.address.toString() + " of pool " + change.poolId +
                     " is released here, but etcd still shows it held: " + error.what() +
                     " (gipam frees it there once etcd answers)");
        remember(Lost{key, handle, change.poolId, false});
    }
}

void ClusterStore::leave(const std::string& poolId, Deadline by) {
    deleteIfOwned(keys_.holder(poolId, node()), [](const std::string&) { return true; }, by);
    deleteIfUnheld(etcd_, keys_, poolId, by);
}

bool ClusterStore::prefixUsed(const ip::Prefix& prefix, const std::string& poolId) const {
    return std::any_of(pools_.begin(), pools_.end(), [&](const auto& entry) {
        return entry.first != poolId && entry.second.record.prefix == prefix;
    });
}

void ClusterStore::deleteIfUnheld(EtcdClient& etcd, const EtcdKeys& keys, const std::string& poolId, Deadline by) {
    const auto poolKey = keys.pool(poolId);
    const auto stored = etcd.txn({}, {read(poolKey), read(keys.poolName(poolId))}, {}, by).ranges;
    if (stored.size() != 2 || stored[0].empty()) return;
    const auto record = decodePool(stored[0][0].value);
    if (!record) return;
    Compare noHolders = absent(keys.holders(poolId));
    noHolders.rangeEnd = prefixEnd(keys.holders(poolId));
    Compare noCopies = absent(keys.copies(poolId));
    noCopies.rangeEnd = prefixEnd(keys.copies(poolId));
    std::vector<Operation> success{remove(poolKey), remove(keys.addresses(poolId), prefixEnd(keys.addresses(poolId))),
                                   remove(keys.block(record->prefix)), remove(keys.poolName(poolId))};
    // The name was claimed with the pool (no other pool can take it while this one exists), so
    // it goes with it.
    if (!stored[1].empty()) success.push_back(remove(keys.name(stored[1][0].value)));
    try {
        etcd.txn({noHolders, noCopies, unchangedSince(poolKey, stored[0][0].modRevision)}, success, {}, by);
    } catch (const EtcdOutcomeUnknown&) {
        // Either way the pool is deleted or still held by someone: nothing to settle.
    }
}

void ClusterStore::release(const Registered& pool, bool prefixStillUsed, Deadline by) {
    const auto& id = pool.record.id;
    try {
        requireIdentity(by);
        if (pool.sharing.scope == Scope::Cluster) {
            leave(id, by);
        } else if (!pool.record.copyOf.empty() && copiesClusterPool(pool.record.copyOf)) {
            deleteIfOwned(
                keys_.copy(pool.record.copyOf, node()),
                [&](const std::string& value) {
                    const auto copy = decodePoolCopy(value);
                    return copy && copy->copy == id;
                },
                by);
            deleteIfUnheld(etcd_, keys_, pool.record.copyOf, by);
        }
        // A Node pool's claim, or the one its copy took over, goes with the last pool using it.
        if (pool.sharing.scope == Scope::Node && !prefixStillUsed) unclaim(pool.record.prefix, by);
    } catch (const StoreError& error) {
        log::warning("pool " + id + " is released here, but etcd still shows it held: " + error.what() +
                     " (gipam frees it there once etcd answers)");
        if (pool.sharing.scope == Scope::Cluster) remember(Lost{keys_.holder(id, node()), {}, id, true});
        else if (!pool.record.copyOf.empty()) remember(Lost{keys_.copy(pool.record.copyOf, node()), {}, pool.record.copyOf, true});
    }
}

std::optional<ClusterPoolView> ClusterStore::readPool(const std::string& poolId, Deadline by) {
    const auto stored = etcd_.range(keys_.pool(poolId), {}, by);
    if (stored.kvs.empty()) return std::nullopt;
    auto record = decodePool(stored.kvs[0].value);
    if (!record) throw StoreError("etcd key " + keys_.pool(poolId) + " does not hold a pool");
    const auto start = keys_.addresses(poolId);
    const auto addresses = etcd_.rangeAll(start, prefixEnd(start), by);
    std::lock_guard lock(mutex_);
    for (const auto& kv : addresses.kvs) {
        const auto hold = decodeAddressHold(kv.value);
        // This node's allocations, so that their release compares their own value.
        if (hold && hold->use == AddressUse::Endpoint && (hold->holder == node() || hold->holder == kSwarmHolder)) {
            handles_.emplace(kv.key, kv.value);
        }
    }
    return viewOf(std::move(*record), addresses.kvs);
}

std::optional<ClusterPoolView> ClusterStore::findShared(const std::string& name, Deadline by) {
    const auto named = etcd_.range(keys_.name(name), {}, by).kvs;
    if (named.empty()) return std::nullopt;
    return readPool(named[0].value, by);
}

void ClusterStore::commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo, Deadline by) {
    // Runs an etcd step without the lock; if it throws, the caller's change is undone.
    const auto inEtcd = [&](const std::function<void()>& step) {
        lock.unlock();
        try {
            requireIdentity(by);
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
        const auto& record = create->record;
        lock.unlock();
        const std::shared_lock reconciling(reconcileMutex_);
        lock.lock();
        const bool cluster = create->sharing.scope == Scope::Cluster;
        const bool copyOfCluster = !cluster && !record.copyOf.empty() && copiesClusterPool(record.copyOf);
        if (cluster) inEtcd([&] { createOrJoin(*create, by); });
        else if (copyOfCluster) inEtcd([&] { registerCopy(record, by); });
        else if (record.copyOf.empty()) inEtcd([&] { claim(record, by); });
        Registered registered{record, create->sharing, {}};
        registered.record.addresses.clear();
        try {
            if (cluster) {
                CreatePool reference = *create;  // this node holds it; its addresses are in etcd
                reference.record.addresses.clear();
                local_.commit(lock, reference, std::move(undo), by);
            } else {
                local_.commit(lock, change, std::move(undo), by);
            }
        } catch (const StoreError&) {
            bool used;
            {
                std::lock_guard registry(mutex_);
                used = prefixUsed(record.prefix, record.id);
            }
            release(registered, used, by);
            throw;
        }
        std::lock_guard registry(mutex_);
        pools_.emplace(record.id, std::move(registered));
        return;
    }
    if (const auto* remove = std::get_if<DeletePool>(&change)) {
        lock.unlock();
        const std::shared_lock reconciling(reconcileMutex_);
        lock.lock();
        std::optional<Registered> gone;
        bool prefixStillUsed = false;
        {
            std::lock_guard registry(mutex_);
            if (const auto it = pools_.find(remove->poolId); it != pools_.end()) {
                gone = std::move(it->second);
                pools_.erase(it);
                prefixStillUsed = prefixUsed(gone->record.prefix, remove->poolId);
            }
        }
        try {
            local_.commit(lock, change, std::move(undo), by);
        } catch (const StoreError&) {
            std::lock_guard registry(mutex_);
            if (gone) pools_.emplace(remove->poolId, std::move(*gone));
            throw;
        }
        // Durable here; etcd's side follows, and what fails of it is freed by reconcile.
        if (gone) release(*gone, prefixStillUsed, by);
        return;
    }
    if (const auto* reserveChange = std::get_if<ReserveAddress>(&change); reserveChange && reserveChange->sharing) {
        inEtcd([&] { reserve(*reserveChange, by); });
        lock.unlock();
        return;
    }
    if (const auto* freeChange = std::get_if<FreeAddress>(&change); freeChange && freeChange->sharing) {
        lock.unlock();
        free(*freeChange, by);
        return;
    }
    local_.commit(lock, change, std::move(undo), by);
}

}  // namespace gipam::store
