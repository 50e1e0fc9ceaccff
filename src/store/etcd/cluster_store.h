// The etcd backend: one address plan shared by several hosts, each with its own lease file.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "store/etcd/etcd_client.h"
#include "store/etcd/etcd_layout.h"
#include "store/lease_store.h"
#include "store/snapshot_store.h"

namespace gipam::store {

/// What `gipam node remove` freed.
struct NodeRemoval {
    std::size_t blocks = 0;     // Host pools' blocks
    std::size_t pools = 0;      // Cluster pools it held (deleted if it was the last)
    std::size_t addresses = 0;  // its addresses in Cluster pools
};

/// Host pools (a block of this host's, its addresses kept only here) go to the local store, with
/// their block claimed in etcd first: they keep working while etcd is down. Cluster pools (shared
/// by name, and swarm's) live in etcd, every address a key of its own written with a
/// compare-and-swap; the local store keeps only a reference to each. A write whose outcome is
/// unknown (no answer) is settled by reading it back. Conflicts are thrown, never retried here:
/// the caller knows what to try instead.
class ClusterStore : public LeaseStore {
public:
    ClusterStore(SnapshotStore& local, EtcdClient& etcd, std::string node, std::string prefix);

    /// The address plan under `prefix`: the supernets of `proposed` are written if etcd holds
    /// none; what etcd holds is returned.
    static Leases agreePlan(EtcdClient& etcd, const std::string& prefix, const Leases& proposed);
    /// Frees every block and address `node` holds under `prefix`, for a host gone for good.
    static NodeRemoval removeNode(EtcdClient& etcd, const std::string& prefix, const std::string& node);
    /// At start, with the local leases: claims the blocks of Host pools not yet claimed (a host
    /// joining with networks of its own), and frees this node's claims no local pool holds (left
    /// by a crash between claim and lease file). Throws StoreError naming a pool whose block
    /// another host holds.
    void reconcile(const Leases& local, const std::function<Scope(const PoolRecord&)>& scopeOf);

    void commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo) override;
    std::chrono::nanoseconds writeInFlightFor() const override { return local_.writeInFlightFor(); }
    bool shared() const override { return true; }
    std::optional<PoolRecord> findShared(const std::string& name) override;
    std::optional<PoolRecord> readPool(const std::string& poolId) override;

    const std::string& node() const { return node_; }

private:
    // The etcd side of a change; throws Conflict or EtcdUnavailable.
    void claim(const CreatePool& create);
    void unclaim(const ip::Prefix& block, const std::string& poolId);
    void createOrJoin(const CreatePool& create);
    void leave(const std::string& poolId);
    void reserve(const ReserveAddress& reserve);
    void free(const FreeAddress& free);
    // The compares that hold when no block overlapping `block` is held (at most 128).
    std::vector<Compare> blockIsFree(const ip::Prefix& block) const;
    // What the failure branch of a claim reads: the blocks at and after `block`.
    Operation blocksFrom(const ip::Prefix& block) const;
    Conflict blockConflict(const ip::Prefix& block, const std::vector<KeyValue>& after);
    // A blocks/ value for a new claim, unique to it.
    std::string blockValue(const std::string& poolId, Scope scope) const;
    // Runs a write; when its outcome is unknown, `applied` (a read, by the deadline it is given)
    // decides, and the write is sent again once if it was not. All within one etcd deadline.
    TxnResult write(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                    const std::vector<Operation>& failure, const std::function<bool(EtcdClient::Deadline)>& applied,
                    std::optional<EtcdClient::Deadline> by = std::nullopt);
    // Deletes `key` if its value passes `ours`, as a compare-and-swap on the revision just read:
    // a delete etcd applies late (after a timeout) then never removes a later write of the key
    // with the same value (this host's next claim of the pool, or its next hold of the address).
    void deleteIfOwned(const std::string& key, const std::function<bool(const std::string&)>& ours);

    SnapshotStore& local_;
    EtcdClient& etcd_;
    std::string node_;
    EtcdKeys keys_;
    std::mutex revisionsMutex_;
    std::map<std::string, std::int64_t> seen_;  // Cluster pool -> the revision its addresses were last read at
    std::set<std::string> writing_;             // address keys with a reserve in flight
};

}  // namespace gipam::store
