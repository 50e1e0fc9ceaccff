// IpamService's side of `gipam gc`: looking, and releasing only what leaked at both looks.
#include <algorithm>

#include "ipam/service.h"
#include "log/log.h"

namespace gipam::ipam {

IpamService::Observation IpamService::observe() {
    Observation observation;
    std::vector<std::string> shared;
    {
        std::lock_guard lock(mutex_);
        observation = {table_.leases(), lastChange_, ++looks_, {}, {}};
        for (const auto& [id, pool] : table_.pools()) {
            if (pool.scope == store::Scope::Cluster && !isSwarmPool(pool)) shared.push_back(id);
        }
    }
    if (!store_.multiNode()) return observation;
    // Read after the change number was taken: what changes meanwhile counts against the first look.
    const store::Deadline by = std::chrono::steady_clock::now() + kAdminBudget;
    try {
        for (const auto& id : shared) {
            const auto view = store_.readPool(id, by);
            auto record = std::find_if(observation.leases.pools.begin(), observation.leases.pools.end(),
                                       [&](const store::PoolRecord& pool) { return pool.id == id; });
            if (!view || record == observation.leases.pools.end()) continue;
            record->addresses = view->own;
            observation.heldForAll.emplace(id, view->shared);
        }
        observation.storeLeaks = store_.leaks(by);
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not read its pools in the shared store: ") + error.what(),
                        Refusal::StoreFailure);
    }
    return observation;
}

bool IpamService::releaseStoreLeak(const store::StoreLeak& leak) {
    try {
        if (!store_.freeLeak(leak, std::chrono::steady_clock::now() + kAdminBudget)) return false;
    } catch (const store::StoreError& error) {
        throw IpamError(std::string("gipam could not free ") + leak.what + ": " + error.what(), Refusal::StoreFailure);
    }
    log::warning("gc freed leaked " + leak.what + " (" + leak.key + ")");
    return true;
}

bool IpamService::releaseLeaked(const std::string& poolId, const std::string& address, std::uint64_t observedChange,
                                std::uint64_t observationId) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
    std::unique_lock lock(mutex_);
    Pool* found = table_.find(poolId);
    if (!found) return false;
    Pool& pool = *found;
    // Releases by this gc run do not count against its own later ones: each address it releases
    // was leaked at both its looks. Releases by anyone else, another gc run included, do.
    const std::uint64_t lastForeign =
        pool.gcRun == observationId ? pool.lastRelease : std::max(pool.lastRelease, pool.lastGcRelease);
    if (pool.created > observedChange || lastForeign > observedChange) return false;
    if (address.empty()) {
        dropPool(lock, poolId, by);
        log::warning("gc released leaked pool " + poolId + " (Docker has no network on it)");
        return true;
    }
    const ip::Address parsed = parseAddress(address, "released address");
    if (!pool.addresses.isHeld(parsed)) return false;
    if (pool.gcRun != observationId) {
        pool.lastRelease = std::max(pool.lastRelease, pool.lastGcRelease);
        pool.gcRun = observationId;
    }
    pool.lastGcRelease = lastChange_ + 1;
    freeAddress(lock, pool, parsed, by);
    log::warning("gc released leaked address " + parsed.toString() + " of pool " + poolId +
                 " (no container of Docker's uses it)");
    return true;
}

}  // namespace gipam::ipam
