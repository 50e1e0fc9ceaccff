#include "ipam/service.h"

#include <memory>

#include "ipam/pool_options.h"
#include "log/log.h"
#include "metrics/metrics.h"

namespace gipam::ipam {
namespace {

using ReserveResult = alloc::AddressAllocator::ReserveResult;

alloc::AddressAllocator::Order orderFor(const PoolOptions& options) {
    return options.serial ? alloc::AddressAllocator::Order::RoundRobin : alloc::AddressAllocator::Order::LowestFirst;
}

std::string noSupernetMessage(ip::Family family) {
    return "no " + std::string(ip::familyName(family)) + " supernet is configured in gipam (start it with " +
           (family == ip::Family::V4 ? "-v4" : "-v6") + " CIDR, or give --subnet)";
}

bool isIpv4Mapped(const ip::Prefix& prefix) {
    static const ip::Prefix mapped = ip::Prefix::parse("::ffff:0:0/96");
    return mapped.overlaps(prefix);
}

}  // namespace

IpamService::IpamService(const store::Leases& leases, store::LeaseStore& store, std::vector<std::string>* warnings)
    : store_(store), table_(leases.v4, leases.v6) {
    for (const auto& record : leases.pools) {
        const std::string where = "pool " + record.id + ": ";
        if (table_.find(record.id)) throw IpamError(where + "the ID appears twice");
        if (record.subPool && !record.pool.contains(*record.subPool)) {
            throw IpamError(where + "ip-range " + record.subPool->toString() + " is outside " + record.pool.toString());
        }
        PoolOptions options;
        std::string copyOf;
        try {
            copyOf = copyTargetFor(record.id, record.pool);
            checkStaticPool(record.pool);
            options = PoolOptions::parse(record.options);
        } catch (const IpamError& error) {
            throw IpamError(where + error.what(), error.reason());
        }
        const auto scope = store.shared() && copyOf.empty() ? scopeOf(record) : store::Scope::Host;
        Pool pool{record.id,
                  scope == store::Scope::Cluster ? clusterAllocator(record.pool, record.subPool)
                                                 : alloc::AddressAllocator(record.pool, record.subPool, orderFor(options)),
                  record.options, copyOf, {}, scope, 0, 0, 0, 0};
        // Its addresses are in etcd, this host's among them: read them before the first pick.
        pool.readFromStore = scope != store::Scope::Cluster;
        for (auto run : record.addresses) {
            if (record.pool.family() == ip::Family::V4 && run.last == record.pool.last() &&
                pool.addresses.isReservedByProtocol(run.last)) {
                pool.addresses.holdReservedAddress(run.last);
                if (warnings) {
                    warnings->push_back(where + "the IPv4 broadcast address " + run.last.toString() +
                                        " is held (the Go gipam handed it out); it stays held until released and "
                                        "is never handed out again");
                }
                if (run.first == run.last) continue;
                run.last = record.pool.at(record.pool.lastOffset() - 1);
            }
            const auto result = pool.addresses.reserveRun(run.first, run.last);
            if (result != ReserveResult::Reserved) {
                throw IpamError(where + describeReserveFailure(result, run.first, record.pool, record.id));
            }
        }
        if (record.next) pool.addresses.setCursor(record.pool.offsetOf(*record.next));
        table_.insert(std::move(pool));
    }
}

std::string IpamService::copyTargetFor(const std::string& id, const ip::Prefix& prefix) const {
    const Pool* other = table_.overlapping(prefix);
    if (!other) return {};
    const bool swarmCopy =
        other->addresses.pool() == prefix && other->copy.empty() && other->copyOf.empty() &&
        ((isInSpace(id, kLocalAddressSpace) && isInSpace(other->id, kGlobalAddressSpace)) ||
         (isInSpace(id, kGlobalAddressSpace) && isInSpace(other->id, kLocalAddressSpace)));
    if (swarmCopy) return other->id;
    throw IpamError(
        "subnet " + prefix.toString() + " overlaps " + other->addresses.pool().toString() + " of pool " + other->id,
        Refusal::Overlap);
}

void IpamService::checkStaticPool(const ip::Prefix& prefix) const {
    // A pool that swallows a supernet would collide with every block cut from it later.
    const auto& supernet = table_.supernetFor(prefix.family());
    if (supernet && prefix.contains(supernet->prefix)) {
        throw IpamError("subnet " + prefix.toString() + " covers gipam's whole " +
                        std::string(ip::familyName(prefix.family())) + " supernet " + supernet->prefix.toString());
    }
}

void IpamService::commit(std::unique_lock<std::mutex>& lock, const store::Change& change,
                         store::LeaseStore::Undo undo) {
    ++lastChange_;
    try {
        store_.commit(lock, change, std::move(undo));
    } catch (const store::Conflict&) {
        throw;  // the caller retries, or refuses naming what is in the way
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not save the change: ") + error.what(), Refusal::StoreFailure);
    }
}

void IpamService::dropPool(std::unique_lock<std::mutex>& lock, const std::string& poolId) {
    auto pool = std::make_shared<Pool>(table_.erase(poolId));
    const store::DeletePool remove{poolId, pool->scope, !pool->copyOf.empty() || !pool->copy.empty()};
    commit(lock, remove, [this, pool] { table_.insert(std::move(*pool)); });
}

bool IpamService::freeAddress(std::unique_lock<std::mutex>& lock, Pool& pool, const ip::Address& address) {
    const bool held = pool.addresses.release(address);
    // A shared pool's addresses live in etcd; this host's copy may not know one it holds there
    // (since a restart, say), and the store frees only this host's own.
    if (!held && (pool.scope != store::Scope::Cluster || !pool.addresses.pool().contains(address))) return false;
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    const store::FreeAddress free{pool.id, address, pool.scope, addressHolder(pool)};
    commit(lock, free, [this, id = pool.id, address, held] {
        if (held) table_.find(id)->addresses.reserve(address);
    });
    return true;
}

Pool& IpamService::findPool(const std::string& poolId) {
    Pool* pool = table_.find(poolId);
    if (!pool) throw IpamError("unknown pool ID '" + poolId + "'", Refusal::UnknownPool);
    return *pool;
}

ip::Prefix IpamService::pickBlock(ip::Family family, std::optional<int> requestedLength) {
    const auto& supernet = table_.supernetFor(family);
    if (!supernet) throw IpamError(noSupernetMessage(family));
    const int length = requestedLength.value_or(supernet->blockLength);
    if (length <= supernet->prefix.length() || length > maxBlockLength(family)) {
        throw IpamError("a /" + std::to_string(length) + " block does not fit in supernet " +
                        supernet->prefix.toString() + " (use /" + std::to_string(supernet->prefix.length() + 1) +
                        " to /" + std::to_string(maxBlockLength(family)) + ")");
    }
    auto block = table_.blocksFor(family)->allocate(length);
    if (!block) {
        const int bits = length - supernet->prefix.length();
        throw IpamError("supernet " + supernet->prefix.toString() + " has no free /" + std::to_string(length) +
                        " block left (it holds " + ip::toDecimal(ip::lowMask(bits) + 1) + " of them)", Refusal::Exhausted);
    }
    return *block;
}

template <typename Grant>
Grant IpamService::untilNoConflict(const std::function<Grant(int)>& attempt,
                                   const std::function<bool(const store::Conflict&)>& learn) {
    // Another host got there first: learn what it holds and try again, a bounded number of
    // times, apart by a jittered pause so that hosts colliding once do not again.
    std::string last;
    bool pause = false;
    for (int tried = 0; tried < kConflictAttempts; ++tried) {
        if (pause) pauseAfterConflict(tried);
        try {
            Grant grant = attempt(tried);
            countConflicts(tried);
            return grant;
        } catch (const store::Conflict& conflict) {
            last = conflict.what();
            metrics::instruments().storeConflicts.fetch_add(1, std::memory_order_relaxed);
            pause = learn(conflict);
        }
    }
    throw tooManyConflicts(last);
}

PoolGrant IpamService::requestPool(const PoolRequest& request) {
    std::string_view space = request.addressSpace;
    if (space.empty()) {
        space = kLocalAddressSpace;
        static std::once_flag warned;
        std::call_once(warned, [] {
            log::warning(
                "RequestPool with an empty address space: this dockerd still has the names the Go gipam "
                "answered; serving it as " +
                std::string(kLocalAddressSpace) + " (restarting dockerd makes it use gipam's names)");
        });
    }
    if (space != kLocalAddressSpace && space != kGlobalAddressSpace) {
        throw IpamError("unknown address space '" + request.addressSpace + "'; gipam serves " +
                        std::string(kLocalAddressSpace) + " and " + std::string(kGlobalAddressSpace));
    }
    checkOptionLimits(request.options);
    const auto options = PoolOptions::parse(request.options);
    const auto named = request.options.find(std::string(kNetworkOption));
    const std::string name = named == request.options.end() ? std::string() : named->second;
    const bool cluster = store_.shared() && (space == kGlobalAddressSpace || !name.empty());
    std::string remoteCopyOf;  // the swarm pool in etcd this node's pool turned out a copy of
    return untilNoConflict<PoolGrant>(
        [&](int) {
            // A shared pool another host created is granted as it is there.
            std::optional<store::PoolRecord> existing;
            if (cluster && !name.empty()) {
                try {
                    existing = store_.findShared(name);
                } catch (const store::StoreError& error) {
                    throw IpamError(std::string("gipam could not read shared pool ") + name + ": " + error.what(),
                                    Refusal::StoreFailure);
                }
            }
            return grantPool(space, request, options, cluster ? store::Scope::Cluster : store::Scope::Host, name,
                             existing, remoteCopyOf);
        },
        [&](const store::Conflict& conflict) {
            std::unique_lock lock(mutex_);
            for (const auto& block : conflict.blocks) table_.holdElsewhere(block.pool);
            lock.unlock();
            // A subnet asked for by name is that subnet or nothing.
            const bool dynamic = request.pool.empty() || parsePrefix(request.pool, "subnet").network().value() == 0;
            if (dynamic || !conflict.holder) return true;
            // A swarm node's copy of an overlay network whose pool a manager holds in etcd.
            const bool swarmCopy = space == kLocalAddressSpace && remoteCopyOf.empty() &&
                                   conflict.holder->pool == parsePrefix(request.pool, "subnet") &&
                                   isInSpace(conflict.holder->id, kGlobalAddressSpace);
            if (!swarmCopy) throw IpamError(conflict.what(), Refusal::Overlap);
            remoteCopyOf = conflict.holder->id;
            return false;
        });
}

PoolGrant IpamService::grantPool(std::string_view space, const PoolRequest& request, const PoolOptions& options,
                                 store::Scope scope, const std::string& name,
                                 const std::optional<store::PoolRecord>& existing, const std::string& remoteCopyOf) {
    std::unique_lock lock(mutex_);
    std::optional<ip::Prefix> subPool;
    std::string copyOf;
    const auto pick = [&](ip::Family family, std::optional<int> length) {
        try {
            return pickBlock(family, length);
        } catch (const IpamError& error) {
            // Blocks other hosts held when this one last looked may be free again.
            if (error.reason() != Refusal::Exhausted || !table_.forgetHeldElsewhere()) throw;
            return pickBlock(family, length);
        }
    };
    ip::Prefix prefix = [&] {
        if (existing) {
            if (!request.pool.empty() && parsePrefix(request.pool, "subnet") != existing->pool) {
                throw IpamError("shared pool " + name + " is " + existing->pool.toString() + " (pool " + existing->id +
                                "), not " + request.pool);
            }
            subPool = existing->subPool;
            if (table_.find(existing->id)) {
                throw IpamError("shared pool " + name + " (" + existing->id + ") is held on this host already",
                                Refusal::Overlap);
            }
            return existing->pool;
        }
        if (request.pool.empty()) {
            if (!request.subPool.empty()) {
                throw IpamError("ip-range " + request.subPool + " needs a subnet (--subnet) to lie in");
            }
            const ip::Family family = request.v6 ? ip::Family::V6 : ip::Family::V4;
            return pick(family, options.blockLength(family));
        }
        // The subnet decides the family: swarmkit sends V6 false also for IPv6 subnets.
        const ip::Prefix requested = parsePrefix(request.pool, "subnet");
        if (requested.length() == 0) {
            throw IpamError("subnet " + requested.toString() + " is the whole " +
                            std::string(ip::familyName(requested.family())) + " address space");
        }
        // Docker 29 sends an all-zero prefix to mean "any block of this size".
        if (requested.network().value() == 0) return pick(requested.family(), requested.length());
        if (isIpv4Mapped(requested)) {
            throw IpamError("subnet " + requested.toString() +
                            " is IPv4-mapped IPv6 (::ffff:0:0/96); give IPv4 subnets in IPv4 form");
        }
        if (!request.subPool.empty()) {
            subPool = parsePrefix(request.subPool, "ip-range");
            if (!requested.contains(*subPool)) {
                throw IpamError("ip-range " + subPool->toString() + " is not inside subnet " + requested.toString());
            }
        }
        copyOf = copyTargetFor(poolIdFor(space, requested, subPool), requested);
        checkStaticPool(requested);
        return requested;
    }();
    // A shared pool's ID is the same on every host: the creator's space, as for the local pools.
    const std::string id = existing ? existing->id : poolIdFor(space, prefix, subPool);
    const std::uint64_t change = lastChange_ + 1;  // commit() numbers it
    const auto poolScope = copyOf.empty() ? scope : store::Scope::Host;
    Pool pool{id,
              poolScope == store::Scope::Cluster ? clusterAllocator(prefix, subPool)
                                                 : alloc::AddressAllocator(prefix, subPool, orderFor(options)),
              existing ? existing->options : request.options, copyOf, {}, poolScope, change, change, 0, 0};
    if (existing) {
        for (const auto& run : existing->addresses) pool.addresses.reserveRun(run.first, run.last);
    }
    // Unless read just now, a Cluster pool is read at its first pick: this host may have joined
    // it (a swarm pool by subnet, or a shared one another host created at the same moment).
    pool.readFromStore = existing.has_value() || poolScope != store::Scope::Cluster;
    store::CreatePool create{table_.record(pool), pool.scope, !copyOf.empty() || !remoteCopyOf.empty(), name};
    table_.insert(std::move(pool));
    commit(lock, create, [this, id] { table_.erase(id); });
    log::info("RequestPool " + id + " granted " + prefix.toString() +
              (copyOf.empty() ? "" : " (this node's copy of swarm pool " + copyOf + ")") +
              (remoteCopyOf.empty() ? "" : " (this node's copy of swarm pool " + remoteCopyOf + ", held in etcd)") +
              (name.empty() || scope != store::Scope::Cluster ? "" : " (shared pool " + name + ", kept in etcd)"));
    return {id, prefix};
}

void IpamService::releasePool(const std::string& poolId) {
    std::unique_lock lock(mutex_);
    const Pool& pool = findPool(poolId);
    // A shared pool's addresses are every host's: what this host knows of them says nothing.
    const std::string held = pool.scope == store::Scope::Cluster
                                 ? std::string(" by this host (its addresses are in etcd; the last host frees them)")
                                 : " with " + ip::toDecimal(pool.addresses.held().count()) + " addresses still held";
    dropPool(lock, poolId);
    log::info("ReleasePool " + poolId + " freed" + held);
}

AddressGrant IpamService::requestAddress(const AddressRequest& request) {
    bool heldOnce = true;  // a shared pool's gateway or aux address, until that turns out taken
    bool triedHeldOnce = false;
    return untilNoConflict<AddressGrant>(
        [&](int) {
            triedHeldOnce = false;
            // Picks in a shared pool this process has not read would skip none of what other
            // hosts, or this one before a restart, hold there.
            if (store_.shared() && !poolReadFromStore(request.poolId)) refreshClusterPool(request.poolId);
            try {
                return grantAddress(request, heldOnce, triedHeldOnce);
            } catch (const IpamError& error) {
                // Addresses other hosts held when this one last looked may be free again: read once.
                if (error.reason() != Refusal::Exhausted || !refreshClusterPool(request.poolId)) throw;
                return grantAddress(request, heldOnce, triedHeldOnce);
            }
        },
        [&](const store::Conflict& conflict) {
            // Another host holds the address: learn what else it took since this host last looked.
            std::unique_lock lock(mutex_);
            if (Pool* pool = table_.find(request.poolId); pool && conflict.pool) {
                for (const auto& run : conflict.pool->addresses) {
                    for (ip::U128 value = run.first.value(); value <= run.last.value(); ++value) {
                        pool->addresses.reserve(ip::Address(run.first.family(), value));
                    }
                }
                // Just behind another host, this one would hit its next picks too: start afresh elsewhere.
                pool->addresses.setCursor(randomCursor(pool->addresses.pool()));
            }
            lock.unlock();
            if (triedHeldOnce) {
                heldOnce = false;
            } else if (!request.address.empty()) {
                throw IpamError(conflict.what(), Refusal::AlreadyAllocated);
            }
            return true;
        });
}

IpamError IpamService::tooManyConflicts(const std::string& last) const {
    countConflicts(kConflictAttempts);
    return IpamError("gave up after " + std::to_string(kConflictAttempts) + " conflicts with other hosts in etcd (last: " +
                         last + ")",
                     Refusal::Contention);
}

void IpamService::countConflicts(int conflicts) const {
    if (store_.shared()) metrics::instruments().conflictsPerRequest.observe(conflicts);
}

bool IpamService::refreshClusterPool(const std::string& poolId) {
    {
        std::lock_guard lock(mutex_);
        const Pool* pool = table_.find(poolId);
        if (!pool || pool->scope != store::Scope::Cluster) return false;
    }
    std::optional<store::PoolRecord> stored;
    try {
        stored = store_.readPool(poolId);
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not read pool ") + poolId + ": " + error.what(), Refusal::StoreFailure);
    }
    if (!stored) return false;
    std::lock_guard lock(mutex_);
    Pool* pool = table_.find(poolId);
    if (!pool) return false;
    auto& addresses = pool->addresses;
    alloc::AddressAllocator fresh(addresses.pool(), addresses.range(), addresses.order());
    for (const auto& run : stored->addresses) fresh.reserveRun(run.first, run.last);
    fresh.setCursor(addresses.cursor());
    addresses = std::move(fresh);
    pool->readFromStore = true;
    return true;
}

bool IpamService::poolReadFromStore(const std::string& poolId) const {
    std::lock_guard lock(mutex_);
    const Pool* pool = table_.find(poolId);
    return !pool || pool->readFromStore;
}

AddressGrant IpamService::grantAddress(const AddressRequest& request, bool heldOnceAllowed, bool& triedHeldOnce) {
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(request.poolId);
    auto& addresses = pool.addresses;
    const ip::U128 cursor = addresses.cursor();
    const bool gateway = isGatewayRequest(request.options);
    std::optional<ip::Address> granted;
    // Held once in a pool shared between hosts: its gateway, and the addresses asked for by
    // value before this host's first container (--aux-address). Whichever host asks first
    // holds it; the others get it too.
    // A swarm pool's addresses are the swarm's, whichever manager allocates them.
    const std::string holder = addressHolder(pool);
    const bool swarm = !holder.empty();
    const bool heldOnce = heldOnceAllowed && pool.scope == store::Scope::Cluster && !swarm &&
                          (gateway || (!request.address.empty() && !pool.automaticGranted));
    bool heldHereAlready = false;
    if (heldOnce) {
        triedHeldOnce = true;
        const ip::Address address = request.address.empty() ? addresses.pool().at(addresses.pool().lastOffset() > 1 ? 1 : 0)
                                                            : parseAddress(request.address, "requested address");
        const auto result = addresses.reserve(address);
        heldHereAlready = result == ReserveResult::AlreadyHeld;
        if (result != ReserveResult::Reserved && !heldHereAlready) {
            throw IpamError(describeReserveFailure(result, address, addresses.pool(), pool.id), Refusal::Invalid);
        }
        granted = address;
    } else if (request.address.empty()) {
        granted = gateway ? addresses.allocateLowestInPool() : addresses.allocate();
        if (!granted) {
            const auto& range = addresses.range();
            throw IpamError("no free " + std::string(ip::familyName(addresses.pool().family())) + " address in " +
                            (range ? "ip-range " + range->toString() + " of " : std::string()) + "pool " + pool.id, Refusal::Exhausted);
        }
        if (!gateway) pool.automaticGranted = true;
    } else {
        const ip::Address address = parseAddress(request.address, "requested address");
        const auto result = addresses.reserve(address);
        // swarmkit asks again for every address it holds when a manager takes over; etcd says
        // whether the swarm holds it.
        heldHereAlready = swarm && result == ReserveResult::AlreadyHeld;
        if (result != ReserveResult::Reserved && !heldHereAlready) {
            throw IpamError(describeReserveFailure(result, address, addresses.pool(), pool.id),
                            result == ReserveResult::AlreadyHeld ? Refusal::AlreadyAllocated : Refusal::Invalid);
        }
        granted = address;
    }
    const std::string id = pool.id;
    const AddressGrant grant{*granted, addresses.pool().length()};
    store::ReserveAddress reserve{id,       *granted, storedCursor(addresses), pool.scope, heldOnce,
                                  holder,   swarm && !request.address.empty()};
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    commit(lock, reserve, [this, id, address = *granted, cursor, heldHereAlready] {
        auto& undone = table_.find(id)->addresses;
        if (!heldHereAlready) undone.release(address);
        undone.setCursor(cursor);
    });
    const auto endpoint = request.options.find(std::string(kEndpointNameOption));
    log::info("RequestAddress " + id + " granted " + grant.address.toString() +
              (endpoint == request.options.end() ? "" : " to " + endpoint->second));
    return grant;
}

void IpamService::releaseAddress(const std::string& poolId, const std::string& address) {
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(poolId);
    const ip::Address parsed = parseAddress(address, "released address");
    pool.lastRelease = lastChange_ + 1;  // kept by an undo too: gc only needs it not to be older
    if (!freeAddress(lock, pool, parsed)) {
        lock.unlock();
        log::debug("ReleaseAddress " + poolId + " " + address + " was not held");
        return;
    }
    log::info("ReleaseAddress " + poolId + " freed " + parsed.toString());
}

store::Leases IpamService::snapshot() const {
    std::lock_guard lock(mutex_);
    return table_.leases();
}

}  // namespace gipam::ipam
