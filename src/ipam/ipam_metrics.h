// What the IPAM service records (refusals by reason, conflicts with other nodes), under the names
// /metrics shows.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "ipam/requests.h"
#include "metrics/metrics.h"

namespace gipam::ipam {

/// Conflicts one request met before it was answered (with several nodes).
inline constexpr std::array<double, 6> kConflictBuckets = {0, 1, 2, 3, 5, 8};

struct IpamMetrics {
    IpamMetrics();
    metrics::CounterTable refusals;                // gipam_refusals_total{reason}
    std::atomic<std::uint64_t> conflicts{0};       // gipam_store_conflicts_total
    std::atomic<std::uint64_t> reuseDelayCutShort{0};  // gipam_reuse_delay_cut_short_total
    metrics::Histogram<kConflictBuckets.size()> conflictsPerRequest{kConflictBuckets};

    void countRefusal(Refusal reason) { refusals.add(static_cast<std::size_t>(reason)); }
    void appendTo(std::string& out) const;
};

/// The process's.
IpamMetrics& ipamMetrics();

}  // namespace gipam::ipam
