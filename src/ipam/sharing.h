// Pools shared between hosts (through etcd): which they are, and how a host picks in them and
// tries again after another host got there first.
#pragma once

#include <optional>
#include <string_view>

#include "alloc/address_allocator.h"
#include "ipam/requests.h"
#include "store/leases.h"

namespace gipam::ipam {

/// Pool option (--ipam-opt gipam.network=NAME): with etcd, the pool of that name on every host,
/// its addresses allocated cluster-wide.
inline constexpr std::string_view kNetworkOption = "gipam.network";
/// Who holds a swarm pool's addresses in etcd: the swarm, whichever manager allocated them.
inline constexpr std::string_view kSwarmHolder = "swarm";
/// How often a request is tried when other hosts keep getting there first.
inline constexpr int kConflictAttempts = 8;
/// Where a stored pool is kept when hosts share a store: Cluster for swarm's (gipam-global) and
/// shared (kNetworkOption) pools, Host for the rest.
store::Scope scopeOf(const store::PoolRecord& pool);

/// Sleeps before try `attempt` (1, 2, ...) after a conflict with another host.
void pauseAfterConflict(int attempt);

/// Who holds `pool`'s addresses in etcd: kSwarmHolder for a swarm pool (whichever manager
/// allocated them), "" for this host.
std::string addressHolder(const Pool& pool);

/// An allocator for a shared pool's addresses on this host: round-robin from a random place, so
/// that hosts rarely want the same address.
alloc::AddressAllocator clusterAllocator(const ip::Prefix& pool, const std::optional<ip::Prefix>& range);
/// A random offset into `pool`, for a host to continue from after a conflict.
ip::U128 randomCursor(const ip::Prefix& pool);

}  // namespace gipam::ipam
