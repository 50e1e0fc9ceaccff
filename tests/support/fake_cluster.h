// An in-memory stand-in for a store several nodes share, for unit tests of the sharing rules:
// one FakeCluster holds what etcd would, and each FakeNodeStore is one node's LeaseStore on it.
// Faults are scripted per node: the next writes conflict, or fail with their outcome unknown
// (applied or not), or are slow. Not a model of etcd: only of the contract ClusterStore keeps.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "store/lease_state.h"
#include "store/lease_store.h"

namespace gipam::testing {

/// What a whole cluster holds: blocks, Cluster pools with their names, holders and addresses.
class FakeCluster {
public:
    struct Hold {
        std::string node;
        store::AddressUse use;
    };
    struct Pool {
        store::PoolRecord record;  // without addresses
        std::string name;
        std::set<std::string> holders;
        std::map<ip::Address, Hold> addresses;
    };
    struct Block {
        std::string poolId, node;
    };

    std::mutex mutex;
    std::map<std::pair<ip::Family, ip::U128>, std::pair<ip::Prefix, Block>> blocks;
    std::map<std::string, Pool> pools;
    std::map<std::string, std::string> names;  // name -> pool ID
    std::size_t writes = 0;                    // every write applied, for tests to count
};

/// A write's scripted fate.
enum class Fault {
    Conflict,          // another node got there first: Conflict, nothing applied
    AppliedUnknown,    // applied, but the caller hears StoreError (its outcome unknown)
    NotAppliedUnknown, // not applied, and the caller hears StoreError
    Slow,              // applied after `slowFor`, answered then
    SlowConflict,      // a Conflict, after `slowFor`
};

/// One node's LeaseStore on a FakeCluster. Node pools keep their addresses in a LeaseState of
/// the node's own ("its lease file"), their blocks claimed in the cluster; Cluster pools live in
/// the cluster. Thread-safe.
class FakeNodeStore : public store::LeaseStore {
public:
    FakeNodeStore(FakeCluster& cluster, std::string node, const store::Leases& leases);

    /// The next write meets `fault` (queued in order).
    void script(Fault fault);
    std::chrono::milliseconds slowFor{50};
    /// The node's own leases, as a restart would read them.
    store::Leases persisted() const;

    void commit(std::unique_lock<std::mutex>& lock, const store::Change& change, Undo undo,
                store::Deadline by) override;
    std::chrono::nanoseconds writeInFlightFor() const override { return {}; }
    bool multiNode() const override { return true; }
    std::optional<store::ClusterPoolView> findShared(const std::string& name, store::Deadline by) override;
    std::optional<store::ClusterPoolView> readPool(const std::string& poolId, store::Deadline by) override;

private:
    // The cluster side of a change, with the cluster's lock held; throws Conflict or StoreError.
    void apply(const store::Change& change);
    // The next scripted fault, if any.
    std::optional<Fault> nextFault();
    store::ClusterPoolView view(const FakeCluster::Pool& pool) const;

    FakeCluster& cluster_;
    std::string node_;
    mutable std::mutex mutex_;  // guards local_ and faults_
    store::LeaseState local_;
    std::deque<Fault> faults_;
    std::set<std::string> clusterPools_;  // this node's Cluster pools
};

}  // namespace gipam::testing
