// Pools shared between nodes: the rules, and the IpamService side of them (conflict retry, pool
// refresh, and what an address request in a shared pool is for).
#include "ipam/sharing.h"

#include <random>
#include <thread>

#include "ipam/service.h"
#include "log/log.h"
#include "ipam/ipam_metrics.h"

namespace gipam::ipam {
namespace {

using ReserveResult = alloc::AddressAllocator::ReserveResult;

void insertRuns(std::set<ip::Address>& addresses, const std::vector<store::AddressRun>& runs) {
    for (const auto& run : runs) {
        for (ip::U128 value = run.first.value(); value <= run.last.value(); ++value) {
            addresses.insert(ip::Address(run.first.family(), value));
        }
    }
}

}  // namespace

ip::U128 randomCursor(const ip::Prefix& pool) {
    thread_local std::mt19937_64 random(std::random_device{}());
    const ip::U128 wide = (static_cast<ip::U128>(random()) << 64) | random();
    return pool.lastOffset() == ~ip::U128{0} ? wide : wide % (pool.lastOffset() + 1);
}

// Nodes sharing a pool would all pick its lowest free address and collide at every request:
// each node goes round from a random place of its own instead.
alloc::AddressAllocator clusterAllocator(const ip::Prefix& pool, const std::optional<ip::Prefix>& range) {
    alloc::AddressAllocator addresses(pool, range, alloc::AddressAllocator::Order::RoundRobin);
    addresses.setCursor(randomCursor(pool));
    return addresses;
}

store::Scope scopeOf(const store::PoolRecord& pool) {
    return isInSpace(pool.id, kGlobalAddressSpace) || pool.options.count(std::string(kNetworkOption))
               ? store::Scope::Cluster
               : store::Scope::Node;
}

store::PoolSharing sharingOf(const store::PoolRecord& pool) {
    const auto named = pool.options.find(std::string(kNetworkOption));
    const bool swarm = isInSpace(pool.id, kGlobalAddressSpace);
    return {scopeOf(pool), named == pool.options.end() || swarm ? std::string() : named->second};
}

bool isSwarmPool(const Pool& pool) {
    return pool.scope == store::Scope::Cluster && isInSpace(pool.id, kGlobalAddressSpace);
}

store::AddressUse useOf(const Pool& pool, const Options& options, const std::string& address,
                        std::chrono::steady_clock::time_point now) {
    if (isGatewayRequest(options)) return store::AddressUse::Shared;
    // What Docker sends with a container's request only: its name (29+), its MAC (when asked).
    if (options.count(std::string(kEndpointNameOption)) || options.count(std::string(kMacAddressOption))) {
        return store::AddressUse::Endpoint;
    }
    if (address.empty()) return store::AddressUse::Endpoint;
    return now < pool.auxUntil ? store::AddressUse::Shared : store::AddressUse::Endpoint;
}

void pauseAfterConflict(int attempt) {
    // Jittered, doubling from 1 ms: two nodes that collided once rarely collide again.
    thread_local std::minstd_rand random(std::random_device{}());
    const int ceiling = std::min(1 << attempt, 64) * 1000;
    std::this_thread::sleep_for(std::chrono::microseconds(ceiling / 2 + random() % (ceiling / 2 + 1)));
}

template <typename Grant>
Grant IpamService::untilNoConflict(const std::function<Grant(int)>& attempt,
                                   const std::function<bool(const store::Conflict&)>& learn, store::Deadline by) {
    // Another node got there first: learn what it holds and try again, a bounded number of
    // times, apart by a jittered pause so that nodes colliding once do not again.
    std::string last;
    bool pause = false;
    for (int tried = 0; tried < kConflictAttempts; ++tried) {
        if (pause) {
            if (std::chrono::steady_clock::now() >= by) break;
            pauseAfterConflict(tried);
        }
        try {
            Grant grant = attempt(tried);
            countConflicts(tried);
            return grant;
        } catch (const store::Conflict& conflict) {
            last = conflict.what();
            ipamMetrics().conflicts.fetch_add(1, std::memory_order_relaxed);
            pause = learn(conflict);
        }
    }
    throw tooManyConflicts(last);
}

template PoolGrant IpamService::untilNoConflict<PoolGrant>(const std::function<PoolGrant(int)>&,
                                                          const std::function<bool(const store::Conflict&)>&,
                                                          store::Deadline);
template AddressGrant IpamService::untilNoConflict<AddressGrant>(const std::function<AddressGrant(int)>&,
                                                                const std::function<bool(const store::Conflict&)>&,
                                                                store::Deadline);

void IpamService::learnAddresses(const std::string& poolId, const store::Conflict& conflict) {
    std::lock_guard lock(mutex_);
    Pool* pool = table_.find(poolId);
    if (!pool || !conflict.pool) return;
    for (const auto& run : conflict.pool->pool.addresses) {
        for (ip::U128 value = run.first.value(); value <= run.last.value(); ++value) {
            pool->addresses.reserve(ip::Address(run.first.family(), value));
        }
    }
    for (const auto& cooling : conflict.pool->pool.cooling) pool->addresses.cool(cooling.address, cooling.until);
    insertRuns(pool->shared, conflict.pool->shared);
    // Just behind another node, this one would hit its next picks too: start afresh elsewhere.
    pool->addresses.setCursor(randomCursor(pool->addresses.pool()));
}

void IpamService::rereadAfterConflicts(const std::string& poolId, store::Deadline by) {
    {
        std::lock_guard lock(mutex_);
        // A reread of 30,000 addresses takes etcd a second here: several at once would spend
        // every waiting request's deadline.
        if (!rereading_.insert(poolId).second) return;
    }
    struct Done {
        IpamService& service;
        const std::string& poolId;
        ~Done() {
            std::lock_guard lock(service.mutex_);
            service.rereading_.erase(poolId);
        }
    } done{*this, poolId};
    refreshClusterPool(poolId, by);
}

bool IpamService::refreshClusterPool(const std::string& poolId, store::Deadline by) {
    {
        std::lock_guard lock(mutex_);
        const Pool* pool = table_.find(poolId);
        if (!pool || pool->scope != store::Scope::Cluster) return false;
    }
    std::optional<store::ClusterPoolView> stored;
    try {
        stored = store_.readPool(poolId, by);
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not read pool ") + poolId + ": " + error.what(), Refusal::StoreFailure);
    }
    if (!stored) return false;
    std::lock_guard lock(mutex_);
    Pool* pool = table_.find(poolId);
    if (!pool) return false;
    auto& addresses = pool->addresses;
    alloc::AddressAllocator fresh(addresses.pool(), addresses.subPool(), addresses.order());
    fresh.excludeAsIn(addresses);
    for (const auto& run : stored->pool.addresses) fresh.reserveRun(run.first, run.last);
    for (const auto& cooling : stored->pool.cooling) fresh.cool(cooling.address, cooling.until);
    fresh.setCursor(addresses.cursor());
    addresses = std::move(fresh);
    pool->shared.clear();
    insertRuns(pool->shared, stored->shared);
    pool->readFromStore = true;
    return true;
}

AddressGrant IpamService::grantSharedAddress(std::unique_lock<std::mutex>& lock, Pool& pool,
                                             const AddressRequest& request, store::Deadline by) {
    auto& addresses = pool.addresses;
    const auto use = useOf(pool, request.options, request.address, std::chrono::steady_clock::now());
    const ip::U128 cursor = addresses.cursor();
    ip::Address granted;
    bool cutShort = false;
    endCooling(pool);
    // Undo puts back the cooling of an address granted while it cooled.
    std::optional<alloc::AddressAllocator::Time> cooled;
    if (use == store::AddressUse::Shared) {
        // The gateway is the pool's first address on every node.
        granted = request.address.empty() ? addresses.pool().at(addresses.pool().lastOffset() > 1 ? 1 : 0)
                                          : parseAddress(request.address, "requested address");
    } else if (request.address.empty()) {
        const auto picked = pickAddress(pool, false, cutShort);
        granted = picked.address;
        if (cutShort) cooled = picked.until;
    } else {
        granted = parseAddress(request.address, "requested address");
    }
    if (!cutShort) cooled = addresses.coolingUntil(granted);
    const std::string id = pool.id;
    const AddressGrant grant{granted, addresses.pool().length()};
    // A container's request ends the network's create: what follows by value is a container's.
    if (use == store::AddressUse::Endpoint) pool.auxUntil = {};
    const bool sharedAlready = pool.shared.count(granted) > 0;
    if (use == store::AddressUse::Shared && sharedAlready) {
        pool.auxUntil = std::chrono::steady_clock::now() + kAuxAddressGap;
        lock.unlock();
        log::info("RequestAddress " + id + " granted " + granted.toString() + " (held once for every node)");
        return grant;
    }
    bool heldHereAlready = false;
    if (!request.address.empty() || use == store::AddressUse::Shared) {
        const auto result = addresses.reserveRun(granted, granted, isGatewayRequest(request.options));
        // What this node saw held may be free again, and only the store knows who holds it:
        // the store decides, and its refusal names the holder.
        heldHereAlready = result == ReserveResult::AlreadyHeld;
        if (result != ReserveResult::Reserved && !heldHereAlready) {
            throw IpamError(describeReserveFailure(result, granted, addresses.pool(), id, exclusionOf(granted, table_.excluded(), pool.options)), Refusal::Invalid);
        }
    }
    if (sharedAlready) {
        throw IpamError("address " + granted.toString() + " of pool " + id +
                            " is the network's gateway or an aux address, held for every node",
                        Refusal::AlreadyAllocated);
    }
    if (use == store::AddressUse::Shared) pool.shared.insert(granted);
    // Asked for by value (or the fallback): granted while it cools, also after another node's release.
    const store::ReserveAddress reserve{
        id, granted, std::nullopt,
        addressSharing(pool, use, false, request.options, cutShort || !request.address.empty())};
    commit(
        lock, reserve,
        [this, id, granted, cursor, heldHereAlready, cooled] {
            Pool* undone = table_.find(id);
            if (!heldHereAlready) undone->addresses.release(granted);
            if (cooled) undone->addresses.cool(granted, *cooled);
            undone->addresses.setCursor(cursor);
            undone->shared.erase(granted);
        },
        by);
    if (cutShort) reportCutShort(id, granted);
    if (use == store::AddressUse::Shared) {
        // The next aux address, if any, follows this answer at once.
        lock.lock();
        if (Pool* answered = table_.find(id)) answered->auxUntil = std::chrono::steady_clock::now() + kAuxAddressGap;
        lock.unlock();
    }
    const auto endpoint = request.options.find(std::string(kEndpointNameOption));
    log::info("RequestAddress " + id + " granted " + granted.toString() +
              (use == store::AddressUse::Shared ? " (held once for every node)"
                                                : endpoint == request.options.end() ? "" : " to " + endpoint->second));
    return grant;
}

}  // namespace gipam::ipam
