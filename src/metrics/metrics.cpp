#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>

namespace gipam::metrics {
namespace {

constexpr std::string_view kEndpointNames[kEndpoints] = {
    "Plugin.Activate",          "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces",
    "IpamDriver.RequestPool",   "IpamDriver.ReleasePool",     "IpamDriver.RequestAddress",
    "IpamDriver.ReleaseAddress", "other"};
constexpr std::string_view kResultNames[kResults] = {"ok", "refused", "bad_request", "forbidden", "not_found"};

void appendHelp(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

}  // namespace

std::string formatNumber(double value) {
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return error == std::errc() ? std::string(buffer, end) : "NaN";
}

template <std::size_t N>
void Histogram<N>::appendTo(std::string& out, std::string_view name, std::string_view labels) const {
    const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < N; ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        out += std::string(name) + "_bucket{" + prefix + "le=\"" + formatNumber(bounds_[i]) + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    // Read count last: it was bumped after the bucket, so +Inf never falls below a bucket.
    const auto count = std::max(cumulative, count_.load(std::memory_order_relaxed));
    const std::string braces = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
    out += std::string(name) + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(count) + "\n";
    out += std::string(name) + "_sum" + braces + " " +
           formatNumber(static_cast<double>(sumNanos_.load(std::memory_order_relaxed)) / 1e9) + "\n";
    out += std::string(name) + "_count" + braces + " " + std::to_string(count) + "\n";
}

std::string_view endpointName(Endpoint endpoint) {
    return kEndpointNames[static_cast<std::size_t>(endpoint)];
}

Endpoint endpointOf(std::string_view path) {
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    for (std::size_t i = 0; i + 1 < kEndpoints; ++i) {
        if (path == kEndpointNames[i]) return static_cast<Endpoint>(i);
    }
    return Endpoint::Other;
}

std::size_t resultOf(int status) {
    switch (status) {
        case 200: return 0;
        case 500: return 1;
        case 403: return 3;
        case 404:
        case 405: return 4;
        default: return 2;
    }
}

void Instruments::countRequest(Endpoint endpoint, int status, double seconds) {
    const auto index = static_cast<std::size_t>(endpoint);
    requests[index][resultOf(status)].fetch_add(1, std::memory_order_relaxed);
    requestSeconds[index].observe(seconds);
}

Instruments& instruments() {
    static Instruments instance;
    return instance;
}

std::string labelValue(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string exposition(const std::string_view* refusalNames, std::size_t refusalKinds, std::string_view version) {
    const Instruments& m = instruments();
    std::string out;
    appendHelp(out, "gipam_requests_total", "counter", "Plugin API requests by endpoint and result.");
    for (std::size_t e = 0; e < kEndpoints; ++e) {
        for (std::size_t r = 0; r < kResults; ++r) {
            out += "gipam_requests_total{endpoint=\"" + std::string(kEndpointNames[e]) + "\",result=\"" +
                   std::string(kResultNames[r]) + "\"} " +
                   std::to_string(m.requests[e][r].load(std::memory_order_relaxed)) + "\n";
        }
    }
    appendHelp(out, "gipam_request_duration_seconds", "histogram",
               "Time from a request's arrival to its answer, durable write included.");
    for (std::size_t e = 0; e < kEndpoints; ++e) {
        m.requestSeconds[e].appendTo(out, "gipam_request_duration_seconds",
                                     "endpoint=\"" + std::string(kEndpointNames[e]) + "\"");
    }
    appendHelp(out, "gipam_durable_write_duration_seconds", "histogram",
               "Time to write the state durably (write, fsync, rename, directory fsync).");
    m.durableWriteSeconds.appendTo(out, "gipam_durable_write_duration_seconds", "");
    appendHelp(out, "gipam_changes_per_durable_write", "histogram",
               "Changes one durable write carried (group commit).");
    m.changesPerWrite.appendTo(out, "gipam_changes_per_durable_write", "");
    appendHelp(out, "gipam_durable_write_failures_total", "counter", "Durable writes that failed; their changes were undone.");
    out += "gipam_durable_write_failures_total " + std::to_string(m.failedWrites.load(std::memory_order_relaxed)) + "\n";
    appendHelp(out, "gipam_store_conflicts_total", "counter",
               "Changes that found another host's change in the way in etcd, and were tried again.");
    out += "gipam_store_conflicts_total " + std::to_string(m.storeConflicts.load(std::memory_order_relaxed)) + "\n";
    appendHelp(out, "gipam_store_conflicts_per_request", "histogram",
               "Conflicts with other hosts one request met before its answer (etcd).");
    m.conflictsPerRequest.appendTo(out, "gipam_store_conflicts_per_request", "");
    appendHelp(out, "gipam_refusals_total", "counter", "Requests refused by the IPAM rules, by reason.");
    for (std::size_t i = 0; i < refusalKinds && i < Instruments::kRefusalKinds; ++i) {
        out += "gipam_refusals_total{reason=\"" + std::string(refusalNames[i]) + "\"} " +
               std::to_string(m.refusals[i].load(std::memory_order_relaxed)) + "\n";
    }
    appendHelp(out, "gipam_build_info", "gauge", "Always 1; the version is a label.");
    out += "gipam_build_info{version=\"" + labelValue(version) + "\"} 1\n";
    return out;
}

template class Histogram<kSecondsBuckets.size()>;
template class Histogram<kBatchBuckets.size()>;

}  // namespace gipam::metrics
