// The pools gipam holds and the indexes over them: by ID, by prefix, and the blocks cut from
// the supernets.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/address_allocator.h"
#include "alloc/block_allocator.h"
#include "store/change.h"
#include "store/leases.h"

namespace gipam::ipam {

using Options = std::map<std::string, std::string>;

/// Whether `poolId` is of `space` ("gipam-local/..."); PoolIDs of the Go gipam are of none.
bool isInSpace(const std::string& poolId, std::string_view space);

/// Where a round-robin pool's next pick starts, as stored; nullopt for other pools.
std::optional<ip::Address> storedCursor(const alloc::AddressAllocator& addresses);

/// One held pool. `copyOf`/`copy` link a swarm network's pool and this node's copy of it, both
/// held here, which share one block.
struct Pool {
    std::string id;
    alloc::AddressAllocator addresses;
    Options options;
    std::string copyOf;  // the pool here whose swarm copy this is, sharing its block
    std::string copy;    // this pool's copy here, if any
    // A swarm copy: the swarm pool whose block it shares, here or on another node; kept with the
    // pool (the lease file's "copyOf") after that pool goes.
    std::string swarmPool;
    store::Scope scope = store::Scope::Node;
    std::uint64_t created = 0;        // the change that granted it (0: loaded at start)
    std::uint64_t lastRelease = 0;    // the newest release of one of its addresses, but by gcRun
    std::uint64_t gcRun = 0;          // the gc run (its first look) that released here last
    std::uint64_t lastGcRelease = 0;  // gcRun's newest release here
    // A shared pool (Cluster, not swarm's): the addresses held once for every node (gateway, aux
    // addresses), and until when an address asked for by value is taken as an aux address.
    std::set<ip::Address> shared{};
    std::chrono::steady_clock::time_point auxUntil{};
    // Whether the addresses here are the store's: always for a Node pool (its lease file); for a
    // Cluster pool, once this process read them from etcd.
    bool readFromStore = true;
    // How long a released address cools: the pool's gipam.reuse-delay, else gipam's --reuse-delay.
    std::chrono::milliseconds reuseDelay{0};
};

/// Held pools never overlap, except a swarm pool and its copy (same prefix). Not thread-safe:
/// the IPAM service guards it with its state lock.
class PoolTable {
public:
    /// No block is cut over `excluded` (--exclude) by a pick; a pool asked for by subnet may hold
    /// it, and gives it back to the exclusion when it goes.
    PoolTable(std::optional<store::Supernet> v4, std::optional<store::Supernet> v6,
              std::vector<store::AddressRun> excluded = {});

    /// Addresses never handed out in any pool (--exclude).
    const std::vector<store::AddressRun>& excluded() const { return excluded_; }

    const std::optional<store::Supernet>& supernetFor(ip::Family family) const;
    /// nullptr without a supernet of the family.
    alloc::BlockAllocator* blocksFor(ip::Family family);

    /// The held pool overlapping `prefix`, if any.
    const Pool* overlapping(const ip::Prefix& prefix) const;
    /// The pool, or nullptr.
    Pool* find(const std::string& poolId);
    const Pool* find(const std::string& poolId) const;
    const std::map<std::string, Pool>& pools() const { return pools_; }

    /// Adds a pool to all indexes (carving its block out of a supernet when inside one, unless
    /// it shares the block as a copy), its addresses excluded as `excluded()` says.
    void insert(Pool pool);
    /// Removes a pool from all indexes and returns it; a copy left behind takes over the block.
    Pool erase(const std::string& poolId);

    /// Marks a block another node holds, so that picks skip it (if inside a supernet and free).
    void holdElsewhere(const ip::Prefix& block);
    /// Forgets every block marked held elsewhere; false if there was none.
    bool forgetHeldElsewhere();

    /// The stored form of one pool, and of everything.
    store::PoolRecord record(const Pool& pool) const;
    store::Leases leases() const;

private:
    // Held pool prefixes by (family, network) for O(log n) overlap checks.
    using PrefixIndex = std::map<std::pair<ip::Family, ip::U128>, std::string>;

    std::optional<store::Supernet> v4_;
    std::optional<store::Supernet> v6_;
    std::optional<alloc::BlockAllocator> v4Blocks_;
    std::optional<alloc::BlockAllocator> v6Blocks_;
    std::map<std::string, Pool> pools_;
    PrefixIndex prefixes_;
    std::vector<ip::Prefix> heldElsewhere_;
    std::vector<store::AddressRun> excluded_;
    // The blocks held for `excluded_` in the supernets' allocators; none overlaps a pool's.
    std::vector<ip::Prefix> excludedBlocks_;

    // Holds for the exclusions what of them lies in `within` (a prefix of a supernet) and is free.
    void excludeBlocksIn(const ip::Prefix& within);
    // Holds `block` for the exclusions, or what of it is free: O(128) per pool in the way.
    void excludeBlock(const ip::Prefix& block);
};

}  // namespace gipam::ipam
