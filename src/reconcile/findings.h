// gipam's leases against what Docker uses: what leaked, what is missing, what gipam did not make.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "reconcile/docker_view.h"
#include "store/lease_store.h"
#include "store/leases.h"

namespace gipam::reconcile {

struct LeakedPool {
    std::string poolId;
    ip::Prefix pool;
};
struct LeakedAddress {
    std::string poolId;
    ip::Address address;
};
/// Docker uses it, gipam does not hold it: it will be handed out twice.
struct MissingAddress {
    std::string network;
    std::string poolId;
    ip::Address address;
    std::string user;
};
/// A network of Docker's on gipam with no pool at all for its subnet.
struct MissingPool {
    std::string network;
    ip::Prefix subnet;
};

struct Findings {
    std::vector<LeakedPool> leakedPools;          // no network of Docker's has the pool's subnet
    std::vector<LeakedAddress> leakedAddresses;   // held in a live network's pool, used by nothing
    std::vector<MissingPool> missingPools;
    std::vector<MissingAddress> missingAddresses;
    std::vector<std::string> foreign;             // pool IDs not of gipam's making (Go gipam's)
    std::vector<store::StoreLeak> storeLeaks;     // this node's in the shared store, used by no pool here

    bool empty() const {
        return leakedPools.empty() && leakedAddresses.empty() && missingPools.empty() && missingAddresses.empty() &&
               foreign.empty() && storeLeaks.empty();
    }
};

/// Addresses of shared pools held once for every node (gateway, aux), by pool ID.
using HeldForAll = std::map<std::string, std::vector<store::AddressRun>>;

/// Compares by subnet and ip-range, not by PoolID (Docker does not show PoolIDs). Addresses of
/// swarm networks are not judged: managers allocate them for tasks on every node, and one node's
/// Docker shows only some; their pools are. Where Docker shows no gateway (a --subnet without
/// --gateway), the pool's first host address, which gipam gave the gateway, is never leaked.
/// A shared pool's addresses are judged only with `heldForAll` (the running gipam's view: the
/// leases hold this node's addresses then, and those held for every node are neither leaked nor
/// missing); without it, by pool only.
Findings compare(const store::Leases& leases, const std::vector<DockerPool>& docker,
                 const HeldForAll* heldForAll = nullptr);

}  // namespace gipam::reconcile
