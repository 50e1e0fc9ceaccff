#include "ipam/service.h"

#include <memory>

#include "ipam/pool_options.h"
#include "log/log.h"
#include "ipam/ipam_metrics.h"

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

// A store that keeps nothing: what validateLeases builds its service on.
class NoStore : public store::LeaseStore {
public:
    void commit(std::unique_lock<std::mutex>& lock, const store::Change&, Undo, store::Deadline) override {
        lock.unlock();
    }
    std::chrono::nanoseconds writeInFlightFor() const override { return {}; }
};

}  // namespace

void validateLeases(const store::Leases& leases) {
    NoStore none;
    const IpamService checked(leases, none);
}

IpamService::IpamService(const store::Leases& leases, store::LeaseStore& store, std::vector<std::string>* warnings,
                         std::chrono::milliseconds reuseDelay)
    : store_(store), table_(leases.v4, leases.v6, leases.excluded), reuseDelay_(reuseDelay) {
    const auto now = std::chrono::system_clock::now();
    for (const auto& record : leases.pools) {
        const std::string where = "pool " + record.id + ": ";
        if (table_.find(record.id)) throw IpamError(where + "the ID appears twice");
        if (record.subPool && !record.prefix.contains(*record.subPool)) {
            throw IpamError(where + "ip-range " + record.subPool->toString() + " is outside " + record.prefix.toString());
        }
        PoolOptions options;
        std::string copyOf;
        try {
            copyOf = copyTargetFor(record.id, record.prefix);
            checkStaticPool(record.prefix);
            options = PoolOptions::parse(record.options);
        } catch (const IpamError& error) {
            throw IpamError(where + error.what(), error.reason());
        }
        // A swarm copy (named in the lease file, or found by its prefix here) is this node's own.
        const bool copy = !copyOf.empty() || !record.copyOf.empty();
        const auto scope = store.multiNode() && !copy ? scopeOf(record) : store::Scope::Node;
        Pool pool{record.id,
                  scope == store::Scope::Cluster ? clusterAllocator(record.prefix, record.subPool)
                                                 : alloc::AddressAllocator(record.prefix, record.subPool, orderFor(options)),
                  record.options,
                  copyOf,
                  {},
                  record.copyOf.empty() ? copyOf : record.copyOf,
                  scope};
        // Its addresses are in etcd, this node's among them: read them before the first pick.
        pool.readFromStore = scope != store::Scope::Cluster;
        for (auto run : record.addresses) {
            if (record.prefix.family() == ip::Family::V4 && run.last == record.prefix.last() &&
                pool.addresses.isReservedByProtocol(run.last)) {
                pool.addresses.holdReservedAddress(run.last);
                if (warnings) {
                    warnings->push_back(where + "the IPv4 broadcast address " + run.last.toString() +
                                        " is held (the Go gipam handed it out); it stays held until released and "
                                        "is never handed out again");
                }
                if (run.first == run.last) continue;
                run.last = record.prefix.at(record.prefix.lastOffset() - 1);
            }
            const auto result = pool.addresses.reserveRun(run.first, run.last);
            if (result != ReserveResult::Reserved) {
                throw IpamError(where + describeReserveFailure(result, run.first, record.prefix, record.id));
            }
        }
        try {
            applyExclusions(options, pool.addresses);
        } catch (const IpamError& error) {
            throw IpamError(where + error.what(), error.reason());
        }
        if (record.cursor) pool.addresses.setCursor(record.prefix.offsetOf(*record.cursor));
        pool.reuseDelay = reuseDelayOf(options);
        // Cooling kept from before the restart, however long this run's delay is.
        for (const auto& cooling : record.cooling) {
            if (cooling.until > now) pool.addresses.cool(cooling.address, std::min(cooling.until, now + kMaxReuseDelay));
        }
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
                         store::LeaseStore::Undo undo, store::Deadline by) {
    ++lastChange_;
    try {
        store_.commit(lock, change, std::move(undo), by);
    } catch (const store::Conflict&) {
        throw;  // the caller retries, or refuses naming what is in the way
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not save the change: ") + error.what(), Refusal::StoreFailure);
    }
}

void IpamService::dropPool(std::unique_lock<std::mutex>& lock, const std::string& poolId, store::Deadline by) {
    auto pool = std::make_shared<Pool>(table_.erase(poolId));
    commit(lock, store::DeletePool{poolId}, [this, pool] { table_.insert(std::move(*pool)); }, by);
}

std::optional<store::AddressSharing> IpamService::addressSharing(const Pool& pool, store::AddressUse use, bool retake,
                                                                 const Options& options, bool overCooling) {
    if (pool.scope != store::Scope::Cluster) return std::nullopt;
    const auto endpoint = options.find(std::string(kEndpointNameOption));
    return store::AddressSharing{use, isSwarmPool(pool), retake, overCooling,
                                 endpoint == options.end() ? std::string() : endpoint->second};
}

std::chrono::milliseconds IpamService::reuseDelayOf(const PoolOptions& options) const {
    return options.reuseDelay.value_or(reuseDelay_);
}

void IpamService::endCooling(Pool& pool) {
    if (!pool.addresses.cooling().empty()) pool.addresses.endCoolingBy(std::chrono::system_clock::now());
}

alloc::AddressAllocator::CoolingPick IpamService::pickAddress(Pool& pool, bool gateway, bool& cutShort) {
    auto& addresses = pool.addresses;
    const auto picked = gateway ? addresses.allocateLowestInPool() : addresses.allocate();
    if (picked) return {*picked, {}};
    const auto coolest = addresses.allocateCoolest(gateway);
    if (!coolest) throw noFreeAddress(pool);
    cutShort = true;
    return *coolest;
}

void IpamService::reportCutShort(const std::string& poolId, const ip::Address& address) {
    ipamMetrics().reuseDelayCutShort.fetch_add(1, std::memory_order_relaxed);
    log::warning("RequestAddress " + poolId + ": no address was free but cooling ones; " + address.toString() +
                 ", released longest ago, is handed out before its reuse delay ended");
}

bool IpamService::freeAddress(std::unique_lock<std::mutex>& lock, Pool& pool, const ip::Address& address,
                              store::Deadline by) {
    // Held once for every node: it stays until the pool goes.
    if (pool.shared.count(address)) return false;
    const bool held = pool.addresses.release(address);
    // A shared pool's addresses live in the store; this node's view may not know one it holds
    // there (since a restart, say), and the store frees only this node's own.
    if (!held && (pool.scope != store::Scope::Cluster || !pool.addresses.pool().contains(address))) return false;
    std::optional<std::chrono::system_clock::time_point> coolUntil;
    if (pool.reuseDelay.count() > 0) {
        coolUntil = std::chrono::system_clock::now() + pool.reuseDelay;
        if (held) pool.addresses.cool(address, *coolUntil);
    }
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    const store::FreeAddress free{pool.id, address, addressSharing(pool, store::AddressUse::Endpoint, false, {}),
                                  coolUntil};
    commit(
        lock, free,
        [this, id = pool.id, address, held] {
            if (held) table_.find(id)->addresses.reserve(address);  // ends its cooling too
        },
        by);
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

PoolGrant IpamService::requestPool(const PoolRequest& request) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
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
    const bool cluster = store_.multiNode() && (space == kGlobalAddressSpace || !name.empty());
    std::string remoteCopyOf;  // the swarm pool on another node this node's pool turned out a copy of
    return untilNoConflict<PoolGrant>(
        [&](int) {
            // A shared pool another node created is granted as it is there.
            std::optional<store::ClusterPoolView> existing;
            if (cluster && !name.empty()) {
                try {
                    existing = store_.findShared(name, by);
                } catch (const store::StoreError& error) {
                    throw IpamError(std::string("gipam could not read shared pool ") + name + ": " + error.what(),
                                    Refusal::StoreFailure);
                }
            }
            return grantPool(space, request, options, cluster ? store::Scope::Cluster : store::Scope::Node, name,
                             existing, remoteCopyOf, by);
        },
        [&](const store::Conflict& conflict) {
            std::unique_lock lock(mutex_);
            for (const auto& block : conflict.blocks) table_.holdElsewhere(block.prefix);
            lock.unlock();
            // A subnet asked for by name is that subnet or nothing.
            const bool dynamic = request.pool.empty() || parsePrefix(request.pool, "subnet").network().value() == 0;
            if (!conflict.blockInTheWay) {
                remoteCopyOf.clear();  // the swarm pool it would copy went meanwhile: try it as a pool of its own
                return true;
            }
            if (dynamic) return true;
            // A swarm node's copy of an overlay network whose pool a manager holds in the store.
            const bool swarmCopy = space == kLocalAddressSpace && remoteCopyOf.empty() &&
                                   conflict.blockInTheWay->prefix == parsePrefix(request.pool, "subnet") &&
                                   isInSpace(conflict.blockInTheWay->id, kGlobalAddressSpace);
            if (!swarmCopy) throw IpamError(conflict.what(), Refusal::Overlap);
            remoteCopyOf = conflict.blockInTheWay->id;
            return false;
        },
        by);
}

PoolGrant IpamService::grantPool(std::string_view space, const PoolRequest& request, const PoolOptions& options,
                                 store::Scope scope, const std::string& name,
                                 const std::optional<store::ClusterPoolView>& existing, const std::string& remoteCopyOf,
                                 store::Deadline by) {
    std::unique_lock lock(mutex_);
    std::optional<ip::Prefix> subPool;
    std::string copyOf;
    const auto pick = [&](ip::Family family, std::optional<int> length) {
        try {
            return pickBlock(family, length);
        } catch (const IpamError& error) {
            // Blocks other nodes held when this one last looked may be free again.
            if (error.reason() != Refusal::Exhausted || !table_.forgetHeldElsewhere()) throw;
            return pickBlock(family, length);
        }
    };
    ip::Prefix prefix = [&] {
        if (existing) {
            if (!request.pool.empty() && parsePrefix(request.pool, "subnet") != existing->pool.prefix) {
                throw IpamError("shared pool " + name + " is " + existing->pool.prefix.toString() + " (pool " + existing->pool.id +
                                "), not " + request.pool);
            }
            subPool = existing->pool.subPool;
            if (table_.find(existing->pool.id)) {
                throw IpamError("shared pool " + name + " (" + existing->pool.id + ") is held on this node already",
                                Refusal::Overlap);
            }
            return existing->pool.prefix;
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
    // A shared pool's ID is the same on every node: the creator's space, as for the local pools.
    const std::string id = existing ? existing->pool.id : poolIdFor(space, prefix, subPool);
    const std::uint64_t change = lastChange_ + 1;  // commit() numbers it
    const bool copy = !copyOf.empty() || !remoteCopyOf.empty();
    const auto poolScope = copy ? store::Scope::Node : scope;
    Pool pool{id,
              poolScope == store::Scope::Cluster ? clusterAllocator(prefix, subPool)
                                                 : alloc::AddressAllocator(prefix, subPool, orderFor(options)),
              existing ? existing->pool.options : request.options,
              copyOf,
              {},
              copyOf.empty() ? remoteCopyOf : copyOf,
              poolScope,
              change,
              change};
    // Exclusions and a reuse delay travel with the options, a shared pool's in its etcd record too.
    const auto poolOptions = existing ? PoolOptions::parse(existing->pool.options) : options;
    applyExclusions(poolOptions, pool.addresses);
    pool.reuseDelay = reuseDelayOf(poolOptions);
    if (existing) {
        for (const auto& run : existing->pool.addresses) pool.addresses.reserveRun(run.first, run.last, true);
        for (const auto& cooling : existing->pool.cooling) pool.addresses.cool(cooling.address, cooling.until);
        for (const auto& run : existing->shared) {
            for (ip::U128 value = run.first.value(); value <= run.last.value(); ++value) {
                pool.shared.insert(ip::Address(run.first.family(), value));
            }
        }
    }
    // Unless read just now, a Cluster pool is read at its first pick: this node may have joined
    // it (a swarm pool by subnet, or a shared one another node created at the same moment).
    pool.readFromStore = existing.has_value() || poolScope != store::Scope::Cluster;
    const bool shared = poolScope == store::Scope::Cluster && !isSwarmPool(pool);
    const store::CreatePool create{table_.record(pool), {poolScope, shared ? name : std::string()}};
    table_.insert(std::move(pool));
    commit(lock, create, [this, id] { table_.erase(id); }, by);
    if (shared) {
        // The network's aux addresses follow this answer at once (see kAuxAddressGap).
        lock.lock();
        if (Pool* granted = table_.find(id)) granted->auxUntil = std::chrono::steady_clock::now() + kAuxAddressGap;
        lock.unlock();
    }
    log::info("RequestPool " + id + " granted " + prefix.toString() +
              (copyOf.empty() ? "" : " (this node's copy of swarm pool " + copyOf + ")") +
              (remoteCopyOf.empty() ? "" : " (this node's copy of swarm pool " + remoteCopyOf + ", held on another node)") +
              (shared ? " (shared pool " + name + ", every node's)" : ""));
    return {id, prefix};
}


void IpamService::releasePool(const std::string& poolId) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
    std::unique_lock lock(mutex_);
    const Pool& pool = findPool(poolId);
    // A shared pool's addresses are every node's: what this node knows of them says nothing.
    const std::string held = pool.scope == store::Scope::Cluster
                                 ? std::string(" by this node (its addresses are every node's; the last node frees them)")
                                 : " with " + ip::toDecimal(pool.addresses.held().count()) + " addresses still held";
    dropPool(lock, poolId, by);
    log::info("ReleasePool " + poolId + " freed" + held);
}

AddressGrant IpamService::requestAddress(const AddressRequest& request) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
    return untilNoConflict<AddressGrant>(
        [&](int tried) {
            // Picks in a shared pool this process has not read would skip none of what other
            // nodes, or this one before a restart, hold there. A conflict tells only of the one
            // address: after four in a row the pool is full of what this node does not know.
            if (store_.multiNode()) {
                if (!poolReadFromStore(request.poolId)) {
                    refreshClusterPool(request.poolId, by);
                } else if (tried == kRereadAfterConflicts) {
                    rereadAfterConflicts(request.poolId, by);
                }
            }
            try {
                return grantAddress(request, by);
            } catch (const IpamError& error) {
                // Addresses other nodes held when this one last looked may be free again: read once.
                if (error.reason() != Refusal::Exhausted || !refreshClusterPool(request.poolId, by)) throw;
                return grantAddress(request, by);
            }
        },
        [&](const store::Conflict& conflict) {
            learnAddresses(request.poolId, conflict);
            // An address asked for by value is that address or nothing.
            if (!request.address.empty()) throw IpamError(conflict.what(), Refusal::AlreadyAllocated);
            return true;
        },
        by);
}

IpamError IpamService::tooManyConflicts(const std::string& last) const {
    countConflicts(kConflictAttempts);
    return IpamError("gave up after " + std::to_string(kConflictAttempts) + " conflicts with other nodes (last: " +
                         last + ")",
                     Refusal::Contention);
}

void IpamService::countConflicts(int conflicts) const {
    if (store_.multiNode()) ipamMetrics().conflictsPerRequest.observe(conflicts);
}

bool IpamService::poolReadFromStore(const std::string& poolId) const {
    std::lock_guard lock(mutex_);
    const Pool* pool = table_.find(poolId);
    return !pool || pool->readFromStore;
}

AddressGrant IpamService::grantAddress(const AddressRequest& request, store::Deadline by) {
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(request.poolId);
    if (pool.scope == store::Scope::Cluster && !isSwarmPool(pool)) return grantSharedAddress(lock, pool, request, by);
    auto& addresses = pool.addresses;
    const ip::U128 cursor = addresses.cursor();
    const bool gateway = isGatewayRequest(request.options);
    // A swarm pool's addresses are the swarm's, whichever manager allocates them.
    const bool swarm = isSwarmPool(pool);
    bool heldHereAlready = false;
    bool cutShort = false;
    ip::Address granted;
    endCooling(pool);
    // Undo puts back the cooling of an address granted while it cooled.
    std::optional<alloc::AddressAllocator::Time> cooled;
    if (request.address.empty()) {
        const auto picked = pickAddress(pool, gateway, cutShort);
        granted = picked.address;
        if (cutShort) cooled = picked.until;
    } else {
        granted = parseAddress(request.address, "requested address");
        cooled = addresses.coolingUntil(granted);
        const auto result = addresses.reserveRun(granted, granted, gateway);
        // swarmkit asks again for every address it holds when a manager takes over; the store
        // says whether the swarm holds it.
        heldHereAlready = swarm && result == ReserveResult::AlreadyHeld;
        if (result != ReserveResult::Reserved && !heldHereAlready) {
            throw IpamError(describeReserveFailure(result, granted, addresses.pool(), pool.id, exclusionOf(granted, table_.excluded(), pool.options)),
                            result == ReserveResult::AlreadyHeld ? Refusal::AlreadyAllocated : Refusal::Invalid);
        }
    }
    const std::string id = pool.id;
    const AddressGrant grant{granted, addresses.pool().length()};
    const store::ReserveAddress reserve{
        id, granted, storedCursor(addresses),
        addressSharing(pool, store::AddressUse::Endpoint, swarm && !request.address.empty(), request.options,
                       cutShort || !request.address.empty())};
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    commit(
        lock, reserve,
        [this, id, granted, cursor, heldHereAlready, cooled] {
            auto& undone = table_.find(id)->addresses;
            if (!heldHereAlready) undone.release(granted);
            if (cooled) undone.cool(granted, *cooled);
            undone.setCursor(cursor);
        },
        by);
    if (cutShort) reportCutShort(id, granted);
    const auto endpoint = request.options.find(std::string(kEndpointNameOption));
    log::info("RequestAddress " + id + " granted " + grant.address.toString() +
              (endpoint == request.options.end() ? "" : " to " + endpoint->second));
    return grant;
}

void IpamService::releaseAddress(const std::string& poolId, const std::string& address) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(poolId);
    const ip::Address parsed = parseAddress(address, "released address");
    pool.lastRelease = lastChange_ + 1;  // kept by an undo too: gc only needs it not to be older
    if (!freeAddress(lock, pool, parsed, by)) {
        lock.unlock();
        log::debug("ReleaseAddress " + poolId + " " + address + " was not held by this node");
        return;
    }
    log::info("ReleaseAddress " + poolId + " freed " + parsed.toString());
}

store::Leases IpamService::snapshot() const {
    std::lock_guard lock(mutex_);
    return table_.leases();
}

std::vector<store::CreatePool> IpamService::heldPools() const {
    std::lock_guard lock(mutex_);
    std::vector<store::CreatePool> pools;
    for (const auto& [id, pool] : table_.pools()) {
        auto record = table_.record(pool);
        auto sharing = sharingOf(record);
        sharing.scope = pool.scope;
        pools.push_back({std::move(record), std::move(sharing)});
    }
    return pools;
}

}  // namespace gipam::ipam
