// What keeps a node's place in etcd while gipam runs, in threads of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/etcd/cluster_store.h"
#include "store/etcd/node_registration.h"

namespace gipam::store {

/// Renews the node's liveness key (every third of its lifetime), and reconciles: soon after a
/// start etcd did not answer (each second until it does; that first one looks for what a crash
/// left, too), and every `interval` after; in between, settles within a second what a write or
/// release left unknown (ClusterStore::settleLostWrites). Logs what it registered, freed and
/// found in the way; never logs the same trouble twice in a row.
class ClusterKeeper {
public:
    ClusterKeeper(ClusterStore& store, NodeRegistration& registration, std::chrono::seconds interval,
                  bool reconciledAtStart);
    /// Stops both threads, then removes the liveness key.
    ~ClusterKeeper();
    ClusterKeeper(const ClusterKeeper&) = delete;

private:
    void renewing();
    void reconciling();
    // Waits `period` or until stopping; false when stopping.
    bool pause(std::chrono::steady_clock::duration period);

    ClusterStore& store_;
    NodeRegistration& registration_;
    std::chrono::seconds interval_;
    bool reconciled_;
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopping_ = false;
    std::thread renewer_;
    std::thread reconciler_;
};

}  // namespace gipam::store
