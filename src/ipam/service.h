// Docker's IPAM semantics: pools, gateways, sub-pools, options, errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ipam/pool_options.h"
#include "ipam/pool_table.h"
#include "ipam/requests.h"
#include "ipam/sharing.h"
#include "store/lease_store.h"

namespace gipam::ipam {

struct PoolRequest {
    std::string addressSpace;
    std::string pool;     // "" = a block from the supernet
    std::string subPool;  // "" = automatic addresses from the whole pool
    Options options;
    bool v6 = false;
};

struct PoolGrant {
    std::string poolId;
    ip::Prefix pool;
};

struct AddressRequest {
    std::string poolId;
    std::string address;  // "" = any free address
    Options options;
};

struct AddressGrant {
    ip::Address address;
    int prefixLength;
    /// "198.18.4.1/24": Docker needs the pool's length on every address.
    std::string toString() const { return address.toString() + "/" + std::to_string(prefixLength); }
};

/// Throws IpamError, as IpamService's constructor does, when `leases` are inconsistent
/// (overlapping pools, a pool holding a whole supernet, an address outside its pool).
void validateLeases(const store::Leases& leases);

/// How long a request may wait for a store shared between nodes, in all: Docker has no timeout
/// of its own, and gipam answers within 3 s whatever etcd does.
inline constexpr std::chrono::milliseconds kStoreBudget{2800};
/// The same for an operator's command (gipam gc), which may read every key of the store.
inline constexpr std::chrono::seconds kAdminBudget{20};

/// Owns all pools and addresses. Every change is committed to the LeaseStore before the method
/// returns; if that fails, the change is undone and IpamError is thrown, so nothing is handed
/// out that is not stored. All methods are thread-safe; the store may combine concurrent
/// changes into one write. No method logs or does I/O while holding the state lock.
///
/// Pools never overlap, with one exception: swarm. A swarm node creates its local copy of an
/// overlay network with a gipam-local request for exactly the subnet of a gipam-global pool
/// this gipam already holds (on a manager that also runs tasks). That copy is granted as a pool
/// of its own, with its own addresses, sharing the block; whichever of the two is released last
/// frees the block.
class IpamService {
public:
    /// Rebuilds state from `leases`; throws IpamError if they are inconsistent (overlapping
    /// pools, a pool holding a whole supernet). An IPv4 broadcast address held in the leases
    /// (the Go gipam handed it out) stays held and is never handed out; `warnings` gets a
    /// sentence naming each one.
    /// `store` must hold the same `leases`. `reuseDelay` (--reuse-delay) is how long a released
    /// address cools in a pool without gipam.reuse-delay of its own: the automatic picks skip
    /// it meanwhile, unless nothing else is free (then the one that cooled longest is taken, and
    /// counted); asked for by value it is granted. The time is kept with the release, so a
    /// restart keeps it.
    IpamService(const store::Leases& leases, store::LeaseStore& store, std::vector<std::string>* warnings = nullptr,
                std::chrono::milliseconds reuseDelay = {});

    /// An empty address space is served as gipam-local: dockerd 20.10/23 caches the empty names
    /// the Go gipam answered until it restarts.
    PoolGrant requestPool(const PoolRequest& request);
    void releasePool(const std::string& poolId);
    AddressGrant requestAddress(const AddressRequest& request);
    /// Releasing an address that is not held succeeds without change: dockerd retries releases.
    void releaseAddress(const std::string& poolId, const std::string& address);

    /// The current state as this node sees it: a Cluster pool with every node's addresses as
    /// last read (the lease file keeps only a reference to it).
    store::Leases snapshot() const;
    /// Whether the store is shared with other nodes (etcd): Docker is then asked to mark each
    /// container's RequestAddress (GetCapabilities' RequiresMACAddress), as sharing.h's rules use.
    bool multiNode() const { return store_.multiNode(); }
    /// Every pool held, as it would be created now: what a store shared between nodes registers.
    std::vector<store::CreatePool> heldPools() const;

    /// The state and the number of the newest change in it, taken together, and a number of its
    /// own for this look: what `gipam gc` observes, and later releases against (releaseLeaked).
    /// With several nodes, a shared pool's addresses are this node's (read from the store just
    /// after), `heldForAll` has those held once for every node, and `storeLeaks` what this node
    /// holds in the store that none of its pools uses. Does I/O, without the state lock.
    struct Observation {
        store::Leases leases;
        std::uint64_t change;
        std::uint64_t observationId;  // numbers the looks
        std::map<std::string, std::vector<store::AddressRun>> heldForAll;
        std::vector<store::StoreLeak> storeLeaks;
    };
    Observation observe();
    /// For `gipam gc`: frees a store leak that was seen at both its looks, if it is unchanged.
    bool releaseStoreLeak(const store::StoreLeak& leak);

    /// For `gipam gc`: releases `address` of pool `poolId` ("" : the whole pool), but only if
    /// the pool has existed and nothing in it has been released since `observedChange` (the
    /// change of the gc run's first look, whose Observation::observationId is `observationId`) other than by this same run. A leaked address
    /// cannot be handed out while it is held, so one that was held all along cannot have become
    /// a container's in between; one released and granted again could have, also when another
    /// gc run released it. Returns false (changing nothing) when that cannot be shown, or when
    /// there is nothing to release.
    bool releaseLeaked(const std::string& poolId, const std::string& address, std::uint64_t observedChange,
                       std::uint64_t observationId);

    /// How long the store's durable write in flight has been running; zero when none is. A hung
    /// disk shows here (the watchdog stops on it). Lock-free.
    std::chrono::nanoseconds writeInFlightFor() const { return store_.writeInFlightFor(); }

private:
    // Tries `attempt` (given the number of tries before) until no Conflict stops it, at most
    // kConflictAttempts times and not past `by`; `learn` takes each Conflict in and says whether
    // to pause first. (sharing.cpp)
    template <typename Grant>
    Grant untilNoConflict(const std::function<Grant(int)>& attempt,
                          const std::function<bool(const store::Conflict&)>& learn, store::Deadline by);
    // One try of requestPool: Conflict when another node got there first.
    PoolGrant grantPool(std::string_view space, const PoolRequest& request, const PoolOptions& options,
                        store::Scope scope, const std::string& name,
                        const std::optional<store::ClusterPoolView>& existing, const std::string& remoteCopyOf,
                        store::Deadline by);
    // One try of requestAddress.
    AddressGrant grantAddress(const AddressRequest& request, store::Deadline by);
    // One try of requestAddress in a shared pool: the gateway and aux addresses held once for
    // every node, a container's for it alone. (sharing.cpp)
    AddressGrant grantSharedAddress(std::unique_lock<std::mutex>& lock, Pool& pool, const AddressRequest& request,
                                    store::Deadline by);
    // Takes in what a Conflict says other nodes hold in the pool. (sharing.cpp)
    void learnAddresses(const std::string& poolId, const store::Conflict& conflict);
    // Records how many conflicts an answered request met, with a shared store.
    void countConflicts(int conflicts) const;
    // The refusal after kConflictAttempts conflicts, `last` the newest; counted.
    IpamError tooManyConflicts(const std::string& last) const;
    // Whether the pool needs no read from the store before a pick (unknown pools need none).
    bool poolReadFromStore(const std::string& poolId) const;
    // Reads a Cluster pool's addresses from the store again; false if it is not one. (sharing.cpp)
    bool refreshClusterPool(const std::string& poolId, store::Deadline by);
    // refreshClusterPool after kRereadAfterConflicts conflicts, unless another request of this
    // node is rereading the pool already (then this one goes on with what it knows). (sharing.cpp)
    void rereadAfterConflicts(const std::string& poolId, store::Deadline by);
    // Makes `change` (already made in memory) durable through the store; `lock` is released on
    // return. If it fails, `undo` and those of the changes that failed with it have run.
    void commit(std::unique_lock<std::mutex>& lock, const store::Change& change, store::LeaseStore::Undo undo,
                store::Deadline by);

    // For a new pool `id` on `prefix`: "" if nothing overlaps it, the ID of the pool it is the
    // swarm copy of, or IpamError naming the overlap.
    std::string copyTargetFor(const std::string& id, const ip::Prefix& prefix) const;
    Pool& findPool(const std::string& poolId);
    // Releases a held pool, or a held address of one (false: it was not held), and commits that.
    void dropPool(std::unique_lock<std::mutex>& lock, const std::string& poolId, store::Deadline by);
    bool freeAddress(std::unique_lock<std::mutex>& lock, Pool& pool, const ip::Address& address, store::Deadline by);
    // What an address change of `pool` tells a store shared between nodes; nullopt for Node pools.
    static std::optional<store::AddressSharing> addressSharing(const Pool& pool, store::AddressUse use,
                                                               bool retake, const Options& options,
                                                               bool overCooling = false);
    // Before a pick in `pool`: ends the cooling that is over.
    static void endCooling(Pool& pool);
    // A dynamic pick in `pool` (for a gateway the lowest of the whole pool), now held; with
    // nothing else free, the address that cooled longest, with the time it was to cool until.
    // IpamError when the pool is full.
    static alloc::AddressAllocator::CoolingPick pickAddress(Pool& pool, bool gateway, bool& cutShort);
    // After the answer (no lock held): counts and says that a pick took the address that cooled
    // longest, nothing else being free (see the constructor).
    static void reportCutShort(const std::string& poolId, const ip::Address& address);
    // The reuse delay of a pool with `options`.
    std::chrono::milliseconds reuseDelayOf(const PoolOptions& options) const;
    // The lowest free block of `length` (default: the supernet's block length) in the family's supernet.
    ip::Prefix pickBlock(ip::Family family, std::optional<int> length);
    void checkStaticPool(const ip::Prefix& prefix) const;

    mutable std::mutex mutex_;
    store::LeaseStore& store_;
    PoolTable table_;
    std::uint64_t lastChange_ = 0;  // sequence number of the newest change made in memory
    std::uint64_t looks_ = 0;       // observe() calls
    std::set<std::string> rereading_;  // Cluster pools a request reads again after conflicts
    const std::chrono::milliseconds reuseDelay_;
};

}  // namespace gipam::ipam
