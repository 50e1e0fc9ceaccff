#include "ipam/ipam_metrics.h"

#include <vector>

namespace gipam::ipam {
namespace {

std::vector<std::string> refusalNames() {
    std::vector<std::string> names;
    for (const auto reason : kRefusals) names.emplace_back(refusalName(reason));
    return names;
}

}  // namespace

IpamMetrics::IpamMetrics()
    : refusals("gipam_refusals_total", "Requests refused by the IPAM rules, by reason.", "reason", refusalNames()) {}

IpamMetrics& ipamMetrics() {
    static IpamMetrics instance;
    return instance;
}

void IpamMetrics::appendTo(std::string& out) const {
    refusals.appendTo(out);
    metrics::appendHelp(out, "gipam_store_conflicts_total", "counter",
                        "Changes that found another node's change in the way, and were tried again.");
    out += "gipam_store_conflicts_total " + std::to_string(conflicts.load(std::memory_order_relaxed)) + "\n";
    metrics::appendHelp(out, "gipam_reuse_delay_cut_short_total", "counter",
                        "Addresses handed out before their reuse delay ended, as nothing else was free.");
    out += "gipam_reuse_delay_cut_short_total " + std::to_string(reuseDelayCutShort.load(std::memory_order_relaxed)) +
           "\n";
    metrics::appendHelp(out, "gipam_store_conflicts_per_request", "histogram",
                        "Conflicts with other nodes one request met before its answer.");
    conflictsPerRequest.appendTo(out, "gipam_store_conflicts_per_request", "");
}

}  // namespace gipam::ipam
