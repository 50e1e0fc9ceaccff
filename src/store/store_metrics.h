// What the store records of its durable writes, under the names /metrics shows.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "metrics/metrics.h"

namespace gipam::store {

/// Changes per durable write: the group commit at work.
inline constexpr std::array<double, 8> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128};

struct WriteMetrics {
    metrics::SecondsHistogram seconds;           // gipam_durable_write_duration_seconds
    metrics::Histogram<kBatchBuckets.size()> changesPerWrite{kBatchBuckets};  // gipam_changes_per_durable_write
    std::atomic<std::uint64_t> failures{0};                                // gipam_durable_write_failures_total

    void appendTo(std::string& out) const;
};

/// The process's.
WriteMetrics& writeMetrics();

/// Whether the store shared with other nodes (etcd) answered this node's last liveness renewal:
/// gipam_shared_store_up 1 or 0; not shown on a single node (-1).
struct SharedStoreMetrics {
    std::atomic<int> up{-1};

    void appendTo(std::string& out) const;
};

/// The process's.
SharedStoreMetrics& sharedStoreMetrics();

}  // namespace gipam::store
