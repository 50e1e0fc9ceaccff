#include "ipam/sharing.h"

#include <chrono>
#include <random>
#include <thread>

namespace gipam::ipam {

ip::U128 randomCursor(const ip::Prefix& pool) {
    thread_local std::mt19937_64 random(std::random_device{}());
    const ip::U128 wide = (static_cast<ip::U128>(random()) << 64) | random();
    return pool.lastOffset() == ~ip::U128{0} ? wide : wide % (pool.lastOffset() + 1);
}

// Hosts sharing a pool would all pick its lowest free address and collide in etcd at every
// request: each host goes round from a random place of its own instead.
alloc::AddressAllocator clusterAllocator(const ip::Prefix& pool, const std::optional<ip::Prefix>& range) {
    alloc::AddressAllocator addresses(pool, range, alloc::AddressAllocator::Order::RoundRobin);
    addresses.setCursor(randomCursor(pool));
    return addresses;
}

store::Scope scopeOf(const store::PoolRecord& pool) {
    return isInSpace(pool.id, kGlobalAddressSpace) || pool.options.count(std::string(kNetworkOption))
               ? store::Scope::Cluster
               : store::Scope::Host;
}

std::string addressHolder(const Pool& pool) {
    const bool swarm = pool.scope == store::Scope::Cluster && isInSpace(pool.id, kGlobalAddressSpace);
    return swarm ? std::string(kSwarmHolder) : std::string();
}

void pauseAfterConflict(int attempt) {
    // Jittered, doubling from 1 ms: two hosts that collided once rarely collide again.
    thread_local std::minstd_rand random(std::random_device{}());
    const int ceiling = std::min(1 << attempt, 64) * 1000;
    std::this_thread::sleep_for(std::chrono::microseconds(ceiling / 2 + random() % (ceiling / 2 + 1)));
}

}  // namespace gipam::ipam
