#include "reconcile/findings.h"

#include <set>

#include "ipam/service.h"

namespace gipam::reconcile {
namespace {

bool same(const store::PoolRecord& pool, const DockerPool& docker) {
    return pool.prefix == docker.subnet && pool.subPool == docker.subPool;
}

template <typename Visit>
void forEachHeld(const store::PoolRecord& pool, Visit visit) {
    for (const auto& run : pool.addresses) {
        for (ip::U128 value = run.first.value();; ++value) {
            visit(ip::Address(run.first.family(), value));
            if (value == run.last.value()) break;
        }
    }
}

// The pool ID gipam gives its subnet and sub-pool, in either address space.
bool namedByGipam(const store::PoolRecord& pool) {
    return pool.id == ipam::poolIdFor(ipam::kLocalAddressSpace, pool.prefix, pool.subPool) ||
           pool.id == ipam::poolIdFor(ipam::kGlobalAddressSpace, pool.prefix, pool.subPool);
}

// A pool whose addresses the shared store keeps for every node (shared or swarm), unless this
// node's share of them is known: the lease file has none of them, so it is judged by pool only.
bool addressesElsewhere(const store::PoolRecord& pool, const HeldForAll* heldForAll) {
    return ipam::scopeOf(pool) == store::Scope::Cluster && (!heldForAll || !heldForAll->count(pool.id));
}

// The addresses held for every node in `pool`: neither leaked nor missing.
std::set<ip::Address> forAll(const store::PoolRecord& pool, const HeldForAll* heldForAll) {
    std::set<ip::Address> addresses;
    if (!heldForAll) return addresses;
    const auto it = heldForAll->find(pool.id);
    if (it == heldForAll->end()) return addresses;
    store::PoolRecord runs{pool.id, pool.prefix, std::nullopt, {}, std::nullopt, it->second, {}};
    forEachHeld(runs, [&](const ip::Address& address) { addresses.insert(address); });
    return addresses;
}

}  // namespace

Findings compare(const store::Leases& leases, const std::vector<DockerPool>& docker, const HeldForAll* heldForAll) {
    Findings findings;
    for (const auto& pool : leases.pools) {
        if (!namedByGipam(pool)) findings.foreign.push_back(pool.id);
        std::set<ip::Address> used;
        bool live = false, swarm = false;
        for (const auto& network : docker) {
            if (!same(pool, network)) continue;
            live = true;
            swarm = swarm || network.swarm;
            for (const auto& entry : network.addresses) used.insert(entry.address);
            // Not shown, but the bridge has it: never call it leaked.
            if (!network.gatewayShown) used.insert(network.firstHost());
        }
        if (!live) {
            findings.leakedPools.push_back({pool.id, pool.prefix});
            continue;
        }
        if (swarm || addressesElsewhere(pool, heldForAll)) continue;
        for (const auto& address : forAll(pool, heldForAll)) used.insert(address);
        forEachHeld(pool, [&](const ip::Address& address) {
            if (!used.count(address)) findings.leakedAddresses.push_back({pool.id, address});
        });
    }
    for (const auto& network : docker) {
        const store::PoolRecord* match = nullptr;
        for (const auto& pool : leases.pools) {
            if (same(pool, network) && (!match || !ipam::isInSpace(pool.id, ipam::kGlobalAddressSpace))) match = &pool;
        }
        if (!match) {
            findings.missingPools.push_back({network.network, network.subnet});
            continue;
        }
        if (network.swarm || addressesElsewhere(*match, heldForAll)) continue;
        std::set<ip::Address> held = forAll(*match, heldForAll);
        forEachHeld(*match, [&](const ip::Address& address) { held.insert(address); });
        for (const auto& entry : network.addresses) {
            if (!held.count(entry.address)) {
                findings.missingAddresses.push_back({network.network, match->id, entry.address, entry.user});
            }
        }
    }
    return findings;
}

}  // namespace gipam::reconcile
