// The persistent state of gipam: supernets and every held pool and address.
#pragma once

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

/// Consecutive held addresses [first, last].
struct AddressRun {
    ip::Address first;
    ip::Address last;

    bool operator==(const AddressRun&) const = default;
};

/// One pool handed to Docker, with everything needed to serve it after a restart.
struct PoolRecord {
    std::string id;
    ip::Prefix pool;
    std::optional<ip::Prefix> subPool;
    std::map<std::string, std::string> options;
    /// Where the next round-robin pick starts; only kept for serial pools.
    std::optional<ip::Address> next;
    /// Held addresses in ascending order, consecutive ones merged into runs.
    std::vector<AddressRun> addresses;

    bool operator==(const PoolRecord&) const = default;
};

/// Everything gipam knows. The lease file holds exactly this.
struct Leases {
    std::optional<Supernet> v4;
    std::optional<Supernet> v6;
    std::vector<PoolRecord> pools;

    bool operator==(const Leases&) const = default;
};

}  // namespace gipam::store
