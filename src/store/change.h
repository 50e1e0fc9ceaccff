// Changes to the leases, each with the precondition a store checks before it applies one.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "store/leases.h"

namespace gipam::store {

/// Where a pool's state is kept once several hosts share one address plan: its block and
/// addresses on this host alone, or its addresses for every host (a shared or swarm pool).
/// A store without other hosts keeps both kinds the same way.
enum class Scope { Host, Cluster };

/// Creates `pool` (with any addresses it holds) and claims its block. Precondition: no pool has
/// this ID, and, in a store shared between hosts, no other host holds an overlapping block (a
/// Cluster pool of the same ID and subnet another host created is joined instead).
struct CreatePool {
    PoolRecord pool;
    Scope scope = Scope::Host;
    /// The block is claimed already, by the pool this one is a swarm copy of.
    bool sharesBlock = false;
    /// The name other hosts find a shared pool by (findShared); "" for none.
    std::string name;
};

/// Deletes a pool, its addresses and its block claim. Precondition: the pool exists.
struct DeletePool {
    std::string poolId;
    Scope scope = Scope::Host;
    bool sharesBlock = false;  // a copy whose block another pool still holds
};

/// Holds one address of a pool for `holder` ("": this host); `next` is the pool's round-robin
/// position afterwards. A held-once address (a shared pool's gateway) is granted again to another
/// host that asks for it as such; with `again`, an address `holder` holds already is granted
/// again (a swarm manager taking over re-reserves its predecessor's addresses). Precondition: the
/// pool exists and the address is not held (but for those two cases).
struct ReserveAddress {
    std::string poolId;
    ip::Address address;
    std::optional<ip::Address> next;
    Scope scope = Scope::Host;
    bool heldOnce = false;
    std::string holder;
    bool again = false;
};

/// Frees one address of a pool that `holder` ("": this host) holds; one held once stays until the
/// pool goes. Precondition: the pool exists and holds the address.
struct FreeAddress {
    std::string poolId;
    ip::Address address;
    Scope scope = Scope::Host;
    std::string holder;
};

using Change = std::variant<CreatePool, DeletePool, ReserveAddress, FreeAddress>;

}  // namespace gipam::store
