// A node's identity in etcd: checked at start, kept alive while gipam runs.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "store/etcd/etcd_client.h"
#include "store/etcd/etcd_layout.h"
#include "store/leases.h"

namespace gipam::store {

/// Thrown when this gipam must not act as its node: the message names the node ID, the other
/// instance, and how to proceed.
class IdentityConflict : public StoreError {
public:
    using StoreError::StoreError;
};

/// Registers this gipam as node `identity.id` in etcd: nodes/<id> records the lease file's
/// instance token for good, and nodes/<id>/alive, on an etcd lease renewed while gipam runs, says
/// that it runs. Refuses (IdentityConflict) when another live gipam holds the node ID, when etcd
/// records another instance for it (the lease file belongs to another node, or is a copy), and
/// when etcd holds claims of the node that the lease file does not know (it is new, or another
/// machine uses the ID). The liveness key's expiry frees nothing: it only lets a restarted or
/// replacement gipam in. Thread-safe.
class NodeRegistration {
public:
    NodeRegistration(EtcdClient& etcd, EtcdKeys keys, NodeIdentity identity, std::string leaseFile,
                     int livenessSeconds = 10);

    /// Whether a block claim or pool hold of this node's is one the lease file knows.
    using Known = std::function<bool(const std::string& poolId)>;
    /// Checks the identity and registers it; a no-op once done. Throws IdentityConflict (then
    /// every later call throws it too: this process stays fenced) or EtcdUnavailable.
    void establish(const Known& known, Deadline by);
    /// Renews the liveness key (every livenessSeconds / 3); re-registers it if etcd lost it.
    /// Throws IdentityConflict when another gipam took the node ID meanwhile (fenced from then on).
    void renew(Deadline by);
    /// Removes the liveness key (at a clean stop), so that a restart need not wait for it.
    void release(Deadline by);

    /// Why this gipam may not write to etcd now ("" when it may): not checked yet, or a conflict.
    std::string fence() const;
    const NodeIdentity& identity() const { return identity_; }
    int livenessSeconds() const { return livenessSeconds_; }

private:
    // The alive value of this process.
    NodeAlive self() const;
    // Whether `alive` is a process that no longer runs on this machine.
    static bool gone(const NodeAlive& alive);
    // Puts the alive key on a fresh lease (and the node record), if the alive key is absent or
    // unchanged since `expected` (a gone process's) and the record is as `registered` says.
    bool putAlive(const std::optional<KeyValue>& expected, bool registered, Deadline by);
    [[noreturn]] void conflict(const std::string& message);

    EtcdClient& etcd_;
    EtcdKeys keys_;
    NodeIdentity identity_;
    std::string leaseFile_;
    int livenessSeconds_;
    std::string incarnation_;
    mutable std::mutex mutex_;
    bool established_ = false;
    std::string conflict_;     // set once: this process is fenced
    std::int64_t lease_ = 0;   // the etcd lease of the alive key
    std::string aliveValue_;   // what this process put there
};

}  // namespace gipam::store
