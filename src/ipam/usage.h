// How full gipam is, computed from a set of leases: what `gipam leases` prints (from the lease
// file) and /metrics exports (from the running state), one computation for both. With etcd the
// two may differ: a shared pool's addresses are in the running state, not in the file.
#pragma once

#include <chrono>
#include <vector>

#include "store/leases.h"

namespace gipam::ipam {

struct SupernetUsage {
    store::Supernet supernet;
    ip::U128 addresses;      // in the supernet
    ip::U128 blocks;         // of the supernet's block length
    double blocksHeld;       // pools inside it, measured in such blocks (a /26 is a quarter of a /24)
    std::size_t pools;       // pools inside it
    ip::U128 addressesHeld;  // held in those pools
};

struct PoolUsage {
    const store::PoolRecord* record;
    ip::U128 held;    // addresses held
    ip::U128 usable;  // addresses that can be held: all but the network address, the IPv4
                      // broadcast and the IPv6 subnet-router anycast
    std::vector<store::CoolingAddress> cooling;  // released, and cooling still (a reuse delay)
};

struct Usage {
    std::vector<SupernetUsage> supernets;  // IPv4 first
    std::vector<PoolUsage> pools;          // in the leases' order
};

/// The usage of `leases` at `now`; the result points into `leases`, which must outlive it.
Usage usageOf(const store::Leases& leases,
              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace gipam::ipam
