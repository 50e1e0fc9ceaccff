// The etcd backend: one address plan shared by several nodes, each with its own lease file.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "store/etcd/etcd_client.h"
#include "store/etcd/etcd_layout.h"
#include "store/etcd/node_registration.h"
#include "store/lease_store.h"
#include "store/snapshot_store.h"

namespace gipam::store {

/// What `gipam node remove` freed.
struct NodeRemoval {
    std::size_t blocks = 0;     // Node pools' blocks
    std::size_t pools = 0;      // Cluster pools it held or had a copy of
    std::size_t deleted = 0;    // of those, the ones it was the last to hold (deleted)
    std::size_t addresses = 0;  // its Endpoint addresses in Cluster pools
};

/// What one reconcile found and did.
struct Reconciliation {
    std::size_t registered = 0;  // claims, pools, holds and copies written because etcd lacked them
    std::size_t freed = 0;       // this node's claims, holds and copies nothing here uses, and lost writes
    std::vector<std::string> overlaps;  // pools of the lease file another node's block overlaps
};

/// Node pools (a block of this node's, its addresses kept only here) go to the local store, with
/// their block claimed in etcd first: they keep working while etcd is down. Cluster pools (shared
/// by name, and swarm's) live in etcd, every address a key of its own, written with a
/// compare-and-swap and naming its holder and a handle for that one allocation; the local store
/// keeps only a reference to each. A swarm copy registers under its swarm pool, which then stays
/// (with its block) while any copy lives. Every write names what it is (a claim nonce, a handle),
/// so that an unknown outcome is settled by reading that identity back; a write still unknown is
/// remembered and removed by reconcile should it appear. Conflicts are thrown, never retried
/// here: the caller knows what to try instead. Nothing is written to etcd before this node's
/// identity is established (NodeRegistration).
class ClusterStore : public LeaseStore {
public:
    ClusterStore(SnapshotStore& local, EtcdClient& etcd, NodeRegistration& registration, std::string prefix);

    /// The address plan under `prefix`: the supernets of `proposed` are written if etcd holds
    /// none; what etcd holds is returned.
    static Leases agreePlan(EtcdClient& etcd, const std::string& prefix, const Leases& proposed, Deadline by);
    /// Frees every block, hold, copy and address `node` holds under `prefix`, for a node gone for
    /// good. Refuses (StoreError) "swarm", the empty ID, a live node and one etcd knows nothing of.
    static NodeRemoval removeNode(EtcdClient& etcd, const std::string& prefix, const std::string& node, Deadline by);

    /// The pools the lease file holds at start, as they would be created now. Call once, before
    /// the first commit.
    void adopt(const std::vector<CreatePool>& pools);
    /// Establishes this node's identity, then reconciles: registers in etcd what the lease file
    /// holds and etcd lacks (claims, Cluster pools, holds, copies), frees this node's claims,
    /// holds and copies that nothing here uses and writes left unknown, and reports pools of the
    /// lease file another node's block overlaps (it frees nothing another node holds, nor a block
    /// any pool here uses). `atStart`: also looks for holds and copies of this node's that a
    /// crash left behind (a scan of every pool key), and an overlap throws StoreError naming it.
    Reconciliation reconcile(bool atStart, Deadline by);
    /// Whether writes and releases whose outcome etcd left unknown wait to be settled.
    bool hasLostWrites() const;
    /// Settles them (the first step of reconcile, alone): removes from etcd what they left that
    /// nothing here uses; returns how many keys it removed. What etcd does not answer stays.
    std::size_t settleLostWrites(Deadline by);

    void commit(std::unique_lock<std::mutex>& lock, const Change& change, Undo undo, Deadline by) override;
    std::chrono::nanoseconds writeInFlightFor() const override { return local_.writeInFlightFor(); }
    bool multiNode() const override { return true; }
    std::optional<ClusterPoolView> findShared(const std::string& name, Deadline by) override;
    std::optional<ClusterPoolView> readPool(const std::string& poolId, Deadline by) override;
    /// This node's claims of blocks no pool here uses, its holds and copies of pools it does not
    /// hold, and its Endpoint addresses in pools it does not hold (left when it let go of a pool
    /// other nodes still hold, or by a crash). Reads every key of the prefix.
    std::vector<StoreLeak> leaks(Deadline by) override;
    bool freeLeak(const StoreLeak& leak, Deadline by) override;

    const std::string& node() const { return registration_.identity().id; }

private:
    // A pool this node holds, as the store knows it.
    struct Registered {
        PoolRecord record;  // without addresses
        PoolSharing sharing;
        // A Cluster pool of a lease file that served without etcd: its addresses, until
        // reconcile registered them as this node's.
        std::vector<AddressRun> unregistered;
    };
    // A write whose outcome stayed unknown: reconcile removes `key` if it holds `value`; a hold
    // (holders/ key) is let go of as a leave would. `value` "" for a release whose delete failed:
    // the key goes if it is still this node's Endpoint address and not a handle in use here.
    struct Lost {
        std::string key, value, poolId;
        bool hold = false;
    };

    // Whether `kv` is this node's and unused here (see leaks()); what it is, for people.
    std::optional<std::string> leaked(const KeyValue& kv) const;
    // Whether nothing may be written to etcd now; tries to establish the identity first.
    void requireIdentity(Deadline by);
    bool known(const std::string& poolId) const;

    // The etcd side of a change; throws Conflict, EtcdUnavailable or EtcdRefused.
    void claim(const PoolRecord& pool, Deadline by);
    void createOrJoin(const CreatePool& create, Deadline by);
    void registerCopy(const PoolRecord& copy, Deadline by);
    void reserve(const ReserveAddress& change, Deadline by);
    // The etcd side of a release; never throws: what fails is remembered for reconcile.
    void release(const Registered& pool, bool prefixStillUsed, Deadline by);
    void free(const FreeAddress& change, Deadline by);
    void leave(const std::string& poolId, Deadline by);
    void unclaim(const ip::Prefix& block, Deadline by);
    // The last holder (or copy) of a Cluster pool to go deletes it, its addresses, name and block.
    static void deleteIfUnheld(EtcdClient& etcd, const EtcdKeys& keys, const std::string& poolId, Deadline by);
    // Whether a pool here other than `poolId` uses `prefix`; call with mutex_ held.
    bool prefixUsed(const ip::Prefix& prefix, const std::string& poolId) const;
    // Whether a copy of `copyOf` counts as a copy of a Cluster pool (not of a Node pool here).
    bool copiesClusterPool(const std::string& copyOf) const;

    // The compares that hold when no block overlapping `block` is held (at most 128).
    std::vector<Compare> blockIsFree(const ip::Prefix& block) const;
    // What the failure branch of a claim reads: the blocks at and after `block`.
    Operation blocksFrom(const ip::Prefix& block) const;
    Conflict blockConflict(const ip::Prefix& block, const std::vector<KeyValue>& after, Deadline by);
    // The pool view from address keys, as read.
    ClusterPoolView viewOf(PoolRecord pool, const std::vector<KeyValue>& addresses) const;

    // Runs a conditional write. An unknown outcome is settled by `ours` (a read of what
    // identifies this write); a write not applied yet is sent once more, and a resend that fails
    // against the first attempt (a slow write, committed meanwhile) is settled by `ours` too.
    // Still unknown: `lost` is remembered for reconcile and EtcdOutcomeUnknown thrown.
    TxnResult write(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                    const std::vector<Operation>& failure, const std::function<bool(Deadline)>& ours,
                    const Lost& lost, Deadline by);
    // Deletes `key` (or puts `replacement` there, if given) if `ours` accepts its value, as a
    // compare-and-swap on the revision just read.
    void deleteIfOwned(const std::string& key, const std::function<bool(const std::string&)>& ours, Deadline by,
                       const std::string& replacement = {});
    void remember(Lost lost);
    std::size_t settleLostWrites(const std::unique_lock<std::shared_mutex>& exclusive, Deadline by);

    SnapshotStore& local_;
    EtcdClient& etcd_;
    NodeRegistration& registration_;
    EtcdKeys keys_;
    // Creates and deletes of pools hold it shared across their etcd and local steps; reconcile
    // holds it exclusively, so that it never sees a pool half made or half gone.
    std::shared_mutex reconcileMutex_;
    mutable std::mutex mutex_;                  // guards what follows
    std::map<std::string, Registered> pools_;   // every pool this node holds
    std::map<std::string, std::string> handles_;  // address key -> this node's value there
    std::vector<Lost> lost_;
};

}  // namespace gipam::store
