// The persistent state of gipam: supernets and every held pool and address.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ip/prefix.h"

namespace gipam::store {

/// A supernet that blocks are cut from, and the default block length.
struct Supernet {
    ip::Prefix prefix;
    int blockLength;

    bool operator==(const Supernet&) const = default;
};

/// Consecutive addresses [first, last]: held ones, or excluded ones.
struct AddressRun {
    ip::Address first;
    ip::Address last;

    bool operator==(const AddressRun&) const = default;
};

/// A released address under a reuse delay: no automatic pick hands it out before `until`.
struct CoolingAddress {
    ip::Address address;
    std::chrono::system_clock::time_point until;

    // By address first: a pool's cooling list is kept sorted so.
    auto operator<=>(const CoolingAddress&) const = default;
};

/// One pool handed to Docker, with everything needed to serve it after a restart.
struct PoolRecord {
    std::string id;
    ip::Prefix prefix;
    std::optional<ip::Prefix> subPool;
    std::map<std::string, std::string> options;
    /// Where the next round-robin pick starts (the lease file's "next"); only kept for serial pools.
    std::optional<ip::Address> cursor;
    /// Held addresses in ascending order, consecutive ones merged into runs.
    std::vector<AddressRun> addresses;
    /// A swarm pool's node-local copy: the ID of that swarm pool, whose block it shares (on this
    /// node or another); "" for every other pool.
    std::string copyOf{};
    /// Released addresses still cooling (a reuse delay), in ascending order of address; some
    /// may have ended since they were stored.
    std::vector<CoolingAddress> cooling{};

    bool operator==(const PoolRecord&) const = default;
};

/// Which node of an address plan shared through etcd a lease file belongs to: its node ID and
/// a token made once for this lease file, which etcd records with the node ID. Two gipams with
/// one node ID, or a lease file used under another one, are told apart by it.
struct NodeIdentity {
    std::string id;
    std::string instance;

    bool operator==(const NodeIdentity&) const = default;
};

/// Everything gipam knows. The lease file holds exactly this.
struct Leases {
    std::optional<Supernet> v4;
    std::optional<Supernet> v6;
    std::vector<PoolRecord> pools;
    /// Set once the lease file served a node sharing its plan through etcd.
    std::optional<NodeIdentity> node{};
    /// Addresses never handed out in any pool (--exclude), either family, in the order given; no
    /// block of a supernet is cut over them unless asked for by subnet. Part of the address plan.
    std::vector<AddressRun> excluded{};

    bool operator==(const Leases&) const = default;
};

}  // namespace gipam::store
