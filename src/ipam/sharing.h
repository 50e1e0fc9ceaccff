// Pools shared between nodes (through the store): which they are, what an address in one is held
// for, and how a node picks in them and tries again after another node got there first. The
// IpamService side of these rules is in sharing.cpp.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "alloc/address_allocator.h"
#include "ipam/requests.h"
#include "store/change.h"
#include "store/leases.h"

namespace gipam::ipam {

/// Pool option (--ipam-opt gipam.network=NAME): with several nodes, the pool of that name on
/// every node, its addresses allocated cluster-wide.
inline constexpr std::string_view kNetworkOption = "gipam.network";
/// RequestAddress option dockerd adds to a container's request when the driver asks for MACs,
/// which gipam does with several nodes (GetCapabilities): then every Docker marks them.
inline constexpr std::string_view kMacAddressOption = "com.docker.network.endpoint.macaddress";
/// How often a request is tried when other nodes keep getting there first.
inline constexpr int kConflictAttempts = 8;
/// After this many conflicts in one request, the pool is read again from the store.
inline constexpr int kRereadAfterConflicts = 4;
/// The fallback where a container's request carries neither name nor MAC (a dockerd that
/// registered gipam before it ran with etcd keeps its old capabilities): dockerd asks for a
/// network's aux addresses (by value, no options) right after its pool and gateway, each the
/// moment the previous answer arrives; a container's --ip comes after the create returned. An
/// address asked for by value within this long of the pool's previous answer is an aux address.
inline constexpr std::chrono::milliseconds kAuxAddressGap{100};

/// Where a stored pool is kept when nodes share a store: Cluster for swarm's (gipam-global) and
/// shared (kNetworkOption) pools, Node for the rest.
store::Scope scopeOf(const store::PoolRecord& pool);
/// How `pool` is created in the store: its scope and, for a shared pool, its name.
store::PoolSharing sharingOf(const store::PoolRecord& pool);
/// Whether `pool` is a Cluster pool of swarm's, whose addresses the swarm holds (any manager).
bool isSwarmPool(const Pool& pool);

/// What an address request in a shared pool (Cluster, not swarm's) is for: the gateway and aux
/// addresses are Shared by every node's copy of the network, a container's address (Docker 29
/// names the endpoint; dynamic; or by value after the network's create) is an Endpoint's.
store::AddressUse useOf(const Pool& pool, const Options& options, const std::string& address,
                        std::chrono::steady_clock::time_point now);

/// Sleeps before try `attempt` (1, 2, ...) after a conflict with another node.
void pauseAfterConflict(int attempt);

/// An allocator for a shared pool's addresses on this node: round-robin from a random place, so
/// that nodes rarely want the same address.
alloc::AddressAllocator clusterAllocator(const ip::Prefix& pool, const std::optional<ip::Prefix>& range);
/// A random offset into `pool`, for a node to continue from after a conflict.
ip::U128 randomCursor(const ip::Prefix& pool);

}  // namespace gipam::ipam
