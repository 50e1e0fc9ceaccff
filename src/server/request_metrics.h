// What the plugin server records of each request (by endpoint and result), under the names
// /metrics shows.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "metrics/metrics.h"
#include "server/plugin_api.h"

namespace gipam::server {

/// The endpoints /metrics counts: the plugin paths (kPluginPaths), then "other" for the rest.
inline constexpr std::size_t kEndpoints = std::size(kPluginPaths) + 1;
/// The endpoint a path counts under.
std::size_t endpointOf(std::string_view path);
/// How a request ended, by HTTP status: 200 ok, 500 refused, 400/413 bad_request, 403 forbidden,
/// 404/405 not_found.
std::size_t resultOf(int status);

class RequestMetrics {
public:
    RequestMetrics();
    void count(std::string_view path, int status, double seconds);
    const metrics::CounterTable& requests() const { return requests_; }
    /// gipam_requests_total, gipam_request_duration_seconds, gipam_build_info.
    void appendTo(std::string& out, std::string_view version) const;

private:
    metrics::CounterTable requests_;
    metrics::SecondsHistogram seconds_[kEndpoints];
};

/// The process's.
RequestMetrics& requestMetrics();

}  // namespace gipam::server
