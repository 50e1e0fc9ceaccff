// How gipam lays out its state in etcd: every key and value format, and the pieces of its
// transactions. The one owner of these formats; README.md ("Keys in etcd") documents them.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "store/change.h"
#include "store/etcd/etcd_client.h"
#include "store/leases.h"

namespace gipam::store {

/// Keys, under the prefix (default /gipam):
///   config                                the supernets and block lengths (lease file JSON, no pools)
///   blocks/<4|6>/<hex network>/<length>   a claimed block: BlockClaim
///   pools/<pool ID>                       a Cluster pool (lease file JSON of that one pool)
///   pools/<pool ID>/name                  the name it is shared under, if any
///   pools/<pool ID>/holders/<node>        a node whose Docker holds it: a claim nonce
///   pools/<pool ID>/copies/<node>         a node's swarm copy of it, sharing its block: PoolCopy
///   pools/<pool ID>/addresses/<address>   a held address: AddressHold; or one cooling after its
///                                         release (a reuse delay): AddressCooling
///   names/<name>                          the pool ID of the shared pool of that name
///   nodes/<node>                          the node's instance token (NodeRecord), for good
///   nodes/<node>/alive                    the running gipam of that node (NodeAlive), on an etcd lease
/// No value grows with a pool's size, and no transaction has more than 128 operations.
struct EtcdKeys {
    std::string prefix;
    std::string config() const { return prefix + "/config"; }
    std::string blocks(ip::Family family) const;
    std::string block(const ip::Prefix& block) const;
    /// The start of the keys of every block whose network is `network`.
    std::string blocksAt(const ip::Address& network) const;
    std::string pools() const { return prefix + "/pools/"; }
    std::string pool(const std::string& poolId) const { return pools() + poolId; }
    std::string poolName(const std::string& poolId) const { return pool(poolId) + "/name"; }
    std::string holders(const std::string& poolId) const { return pool(poolId) + "/holders/"; }
    std::string holder(const std::string& poolId, const std::string& node) const { return holders(poolId) + node; }
    std::string copies(const std::string& poolId) const { return pool(poolId) + "/copies/"; }
    std::string copy(const std::string& poolId, const std::string& node) const { return copies(poolId) + node; }
    std::string addresses(const std::string& poolId) const { return pool(poolId) + "/addresses/"; }
    std::string address(const std::string& poolId, const ip::Address& address) const;
    std::string name(const std::string& name) const { return prefix + "/names/" + name; }
    std::string nodes() const { return prefix + "/nodes/"; }
    std::string node(const std::string& node) const { return nodes() + node; }
    std::string alive(const std::string& node) const { return this->node(node) + "/alive"; }

    /// The block a blocks/ key names; nullopt for anything else.
    std::optional<ip::Prefix> blockOf(const std::string& key) const;
    /// The address an addresses/ key of `poolId` names; nullopt for anything else.
    std::optional<ip::Address> addressOf(const std::string& poolId, const std::string& key) const;

    /// What a key under pools/ is, by its last parts: a pool's holders/<node>, copies/<node> or
    /// addresses/<address> key (`kind`), its pool ID and the last part.
    struct PoolKey {
        enum class Kind { Holder, Copy, Address, Other } kind = Kind::Other;
        std::string poolId;
        std::string last;
    };
    PoolKey poolKeyOf(const std::string& key) const;
};

/// The holder of a swarm pool's addresses: the swarm, so that whichever manager runs may free them.
inline constexpr std::string_view kSwarmHolder = "swarm";

/// A fresh 16-hex-digit nonce: a claim, hold or handle told apart from every earlier one.
std::string newNonce();

/// A blocks/ value: the pool holding the block, its node, its scope, and the claim's nonce.
struct BlockClaim {
    std::string pool, node;
    Scope scope = Scope::Node;
    std::string claim;
};
std::string encodeBlockClaim(const BlockClaim& claim);
/// nullopt for a value gipam did not write.
std::optional<BlockClaim> decodeBlockClaim(const std::string& text);

/// An addresses/ value: who holds the address (a node, or "swarm" for a swarm pool's), which
/// node wrote it, what for, and the handle of that one allocation. Values of gipam 0.1
/// ("<node>" and "<node> once") decode with an empty handle.
struct AddressHold {
    std::string holder;
    std::string node;
    AddressUse use = AddressUse::Endpoint;
    std::string handle;
    std::string endpoint;  // Docker 29's endpoint name, if it sent one
};
std::string encodeAddressHold(const AddressHold& hold);
/// nullopt for a value gipam did not write.
std::optional<AddressHold> decodeAddressHold(const std::string& text);

/// An addresses/ value for a released address under a reuse delay: free, but no node's automatic
/// pick takes it before `until`. `node` released it.
struct AddressCooling {
    std::string node;
    std::chrono::system_clock::time_point until;
};
std::string encodeAddressCooling(const AddressCooling& cooling);
/// nullopt for any other value, an AddressHold's among them.
std::optional<AddressCooling> decodeAddressCooling(const std::string& text);

/// A copies/ value: the ID of the node-local copy, and the nonce of that registration.
struct PoolCopy {
    std::string copy, claim;
};
std::string encodePoolCopy(const PoolCopy& copy);
std::optional<PoolCopy> decodePoolCopy(const std::string& text);

/// A nodes/<node> value: the instance token of the lease file that registered the node.
struct NodeRecord {
    std::string instance;
};
std::string encodeNodeRecord(const NodeRecord& record);
std::optional<NodeRecord> decodeNodeRecord(const std::string& text);

/// A nodes/<node>/alive value: the running gipam. `incarnation` is new for each process; `boot`
/// (the kernel's boot ID), `pid` and `started` (its start time in clock ticks since boot) tell
/// whether that process still runs on this machine.
struct NodeAlive {
    std::string instance, incarnation, hostname, boot;
    long long pid = 0;
    long long started = 0;
    std::string since;  // when it registered, UTC, for people
};
std::string encodeNodeAlive(const NodeAlive& alive);
std::optional<NodeAlive> decodeNodeAlive(const std::string& text);

/// One pool as etcd keeps it: the lease file's JSON for that pool alone, without addresses.
std::string encodePool(PoolRecord record);
/// nullopt for a value that is not one pool.
std::optional<PoolRecord> decodePool(const std::string& text);

/// The prefix of `length` (<= prefix's) containing `prefix`.
ip::Prefix truncated(const ip::Prefix& prefix, int length);

/// Transaction pieces: `key` does not exist (its create revision is 0) or does; has exactly
/// `value`, or was last changed at `revision`; put (optionally on an etcd lease), delete and
/// read a key (or the range [key, rangeEnd)).
Compare absent(const std::string& key);
Compare present(const std::string& key);
Compare holds(const std::string& key, const std::string& value);
Compare unchangedSince(const std::string& key, std::int64_t revision);
Operation put(const std::string& key, const std::string& value, std::int64_t lease = 0);
Operation remove(const std::string& key, const std::string& rangeEnd = {});
Operation read(const std::string& key, const std::string& rangeEnd = {}, std::int64_t limit = 0);

}  // namespace gipam::store
