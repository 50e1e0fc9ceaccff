// How gipam lays out its state in etcd: keys, values, and the pieces of its transactions.
#pragma once

#include <optional>
#include <string>

#include "store/etcd/etcd_client.h"
#include "store/leases.h"

namespace gipam::store {

/// Keys, under the prefix (default /gipam), documented in README.md ("Several hosts"):
///   config                              the supernets and block lengths (lease file JSON, no pools)
///   blocks/<4|6>/<hex network>/<length> a held block: {"pool", "node", "scope"}
///   pools/<pool ID>                     a Cluster pool (lease file JSON of that one pool)
///   pools/<pool ID>/name                the name it is shared under, if any
///   pools/<pool ID>/holders/<node>      a host whose Docker holds it
///   pools/<pool ID>/addresses/<address> a held address: "<node>", or "<node> once" if held once
///   names/<name>                        the pool ID of the shared pool of that name
/// No value grows with a pool's size, and no transaction has more than 128 operations.
struct EtcdKeys {
    std::string prefix;
    std::string config() const { return prefix + "/config"; }
    std::string blocks(ip::Family family) const;
    std::string block(const ip::Prefix& block) const;
    /// The start of the keys of every block whose network is `network`.
    std::string blocksAt(const ip::Address& network) const;
    std::string pool(const std::string& poolId) const { return prefix + "/pools/" + poolId; }
    std::string holders(const std::string& poolId) const { return pool(poolId) + "/holders/"; }
    std::string addresses(const std::string& poolId) const { return pool(poolId) + "/addresses/"; }
    std::string address(const std::string& poolId, const ip::Address& address) const;
    std::string name(const std::string& name) const { return prefix + "/names/" + name; }
    /// The block a blocks/ key names; nullopt for anything else.
    std::optional<ip::Prefix> blockOf(const std::string& key) const;
};

/// A blocks/ key's value: the pool holding the block, its host, and "host" or "cluster".
struct BlockHolder {
    std::string pool, node, scope;
};
/// The BlockHolder in a value; empty fields for one gipam did not write.
BlockHolder decodeBlockValue(const std::string& text);

/// One pool as etcd keeps it: the lease file's JSON for that pool alone, without addresses.
std::string encodePool(PoolRecord record);
/// nullopt for a value that is not one pool.
std::optional<PoolRecord> decodePool(const std::string& text);

/// The prefix of `length` (<= prefix's) containing `prefix`.
ip::Prefix truncated(const ip::Prefix& prefix, int length);

/// Transaction pieces: `key` does not exist (its create revision is 0) or does; put, delete and
/// read a key (or the range [key, rangeEnd)).
Compare absent(const std::string& key);
Compare present(const std::string& key);
Operation put(const std::string& key, const std::string& value);
Operation remove(const std::string& key, const std::string& rangeEnd = {});
Operation read(const std::string& key, const std::string& rangeEnd = {}, std::int64_t limit = 0,
               std::int64_t minModRevision = 0);

/// The last host to leave a Cluster pool deletes it, with its addresses, name and block; a
/// no-op while any host still holds it.
void deleteIfUnheld(EtcdClient& etcd, const EtcdKeys& keys, const std::string& poolId);

}  // namespace gipam::store
