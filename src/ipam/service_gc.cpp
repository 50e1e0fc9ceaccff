// IpamService's side of `gipam gc`: looking, and releasing only what leaked at both looks.
#include "ipam/service.h"
#include "log/log.h"

namespace gipam::ipam {

IpamService::Observation IpamService::observe() {
    std::lock_guard lock(mutex_);
    return {table_.leases(), lastChange_, ++looks_};
}

bool IpamService::releaseLeaked(const std::string& poolId, const std::string& address, std::uint64_t observedChange,
                                std::uint64_t look) {
    const store::Deadline by = std::chrono::steady_clock::now() + kStoreBudget;
    std::unique_lock lock(mutex_);
    Pool* found = table_.find(poolId);
    if (!found) return false;
    Pool& pool = *found;
    // Releases by this gc run do not count against its own later ones: each address it releases
    // was leaked at both its looks. Releases by anyone else, another gc run included, do.
    const std::uint64_t lastForeign =
        pool.gcRun == look ? pool.lastRelease : std::max(pool.lastRelease, pool.lastGcRelease);
    if (pool.created > observedChange || lastForeign > observedChange) return false;
    if (address.empty()) {
        dropPool(lock, poolId, by);
        log::warning("gc released leaked pool " + poolId + " (Docker has no network on it)");
        return true;
    }
    const ip::Address parsed = parseAddress(address, "released address");
    if (!pool.addresses.isHeld(parsed)) return false;
    if (pool.gcRun != look) {
        pool.lastRelease = std::max(pool.lastRelease, pool.lastGcRelease);
        pool.gcRun = look;
    }
    pool.lastGcRelease = lastChange_ + 1;
    freeAddress(lock, pool, parsed, by);
    log::warning("gc released leaked address " + parsed.toString() + " of pool " + poolId +
                 " (no container of Docker's uses it)");
    return true;
}

}  // namespace gipam::ipam
