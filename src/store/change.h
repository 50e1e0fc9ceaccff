// Changes to the leases, each with the precondition a store checks before it applies one.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include "store/leases.h"

namespace gipam::store {

/// Where a pool's state is kept once several nodes share one address plan: its block and
/// addresses on this node alone (Node), or its addresses for every node (Cluster: a shared or
/// swarm pool).
enum class Scope { Node, Cluster };

/// What only a store shared by several nodes reads of a pool's creation or deletion; a store of
/// one node ignores it.
struct PoolSharing {
    Scope scope = Scope::Node;
    /// The name other nodes find a shared pool by (CreatePool; "" for none).
    std::string name;
};

/// Creates `pool` (with any addresses it holds) and claims its block, unless the pool is a swarm
/// copy (`pool.copyOf`), whose block is its swarm pool's. Precondition: no pool has this ID, and
/// in a store shared between nodes no other node holds an overlapping block (a Cluster pool of
/// the same ID, subnet and name that another node created is joined instead).
struct CreatePool {
    PoolRecord record;
    PoolSharing sharing;
};

/// Deletes a pool, its addresses and its block claim (a Cluster pool: this node's hold of it;
/// the last node to let go deletes it). Precondition: the pool exists.
struct DeletePool {
    std::string poolId;
};

/// What an address of a Cluster pool is held for.
enum class AddressUse {
    Endpoint,  // one container's (or a swarm task's): no other request gets it while held
    Shared,    // the pool's gateway or an aux address, one for every node's copy of the network
};

/// What only a store shared by several nodes reads of an address change in a Cluster pool.
struct AddressSharing {
    AddressUse use = AddressUse::Endpoint;
    /// Held by the swarm (a swarm pool's), so that any manager may free it; else by this node.
    bool bySwarm = false;
    /// A swarm manager taking over asks again for what the swarm holds: granted if so.
    bool retake = false;
    /// Granted even while it cools after another node's release: asked for by value, or the
    /// one that cooled longest when nothing else is free.
    bool overCooling = false;
    /// Docker 29's endpoint name, kept with the address for operators.
    std::string endpoint;
};

/// Holds one address of a pool, ending its cooling if it cooled; `cursor` is the pool's
/// round-robin position afterwards. Precondition: the pool exists and the address is not held
/// (in a Cluster pool: a Shared address held as Shared, and with `retake` one the swarm holds,
/// are granted again; a cooling one only if its cooling ended or with `overCooling`).
struct ReserveAddress {
    std::string poolId;
    ip::Address address;
    std::optional<ip::Address> cursor;
    std::optional<AddressSharing> sharing;  // Cluster pools only
};

/// Frees one address of a pool, cooling until `coolUntil` if set (a reuse delay). In a Cluster
/// pool only this node's (or with bySwarm, the swarm's) Endpoint address is freed; a Shared one
/// stays until the pool goes. Precondition: the pool exists and holds the address.
struct FreeAddress {
    std::string poolId;
    ip::Address address;
    std::optional<AddressSharing> sharing;  // Cluster pools only
    std::optional<std::chrono::system_clock::time_point> coolUntil{};
};

using Change = std::variant<CreatePool, DeletePool, ReserveAddress, FreeAddress>;

}  // namespace gipam::store
