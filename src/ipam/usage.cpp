#include "ipam/usage.h"

namespace gipam::ipam {
namespace {

ip::U128 heldIn(const store::PoolRecord& pool) {
    ip::U128 held = 0;
    for (const auto& run : pool.addresses) held += run.last.value() - run.first.value() + 1;
    return held;
}

// Mirrors AddressAllocator::isReservedByProtocol: pools of /31 and /32 (or /127, /128) reserve none.
ip::U128 usableIn(const ip::Prefix& pool) {
    const ip::U128 size = pool.lastOffset() + 1;
    if (pool.hostBits() < 2) return size;
    return size - (pool.family() == ip::Family::V4 ? 2 : 1);
}

}  // namespace

Usage usageOf(const store::Leases& leases, std::chrono::system_clock::time_point now) {
    Usage usage;
    for (const auto& pool : leases.pools) {
        usage.pools.push_back({&pool, heldIn(pool), usableIn(pool.prefix), {}});
        for (const auto& cooling : pool.cooling) {
            if (cooling.until > now) usage.pools.back().cooling.push_back(cooling);
        }
    }
    for (const auto& supernet : {leases.v4, leases.v6}) {
        if (!supernet) continue;
        SupernetUsage entry{*supernet, supernet->prefix.lastOffset() + 1,
                            ip::lowMask(supernet->blockLength - supernet->prefix.length()) + 1, 0, 0, 0};
        const ip::U128 blockSize = ip::lowMask(ip::bitWidth(supernet->prefix.family()) - supernet->blockLength) + 1;
        for (const auto& pool : usage.pools) {
            if (!supernet->prefix.contains(pool.record->prefix)) continue;
            entry.blocksHeld += static_cast<double>(pool.record->prefix.lastOffset() + 1) / static_cast<double>(blockSize);
            ++entry.pools;
            entry.addressesHeld += pool.held;
        }
        usage.supernets.push_back(entry);
    }
    return usage;
}

}  // namespace gipam::ipam
