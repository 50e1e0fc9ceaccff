#include "server/request_metrics.h"

#include <vector>

namespace gipam::server {
namespace {

std::vector<std::string> endpointNames() {
    std::vector<std::string> names;
    for (const auto path : kPluginPaths) names.emplace_back(path.substr(1));  // "IpamDriver.RequestPool"
    names.emplace_back("other");
    return names;
}

}  // namespace

std::size_t endpointOf(std::string_view path) {
    for (std::size_t i = 0; i < std::size(kPluginPaths); ++i) {
        if (path == kPluginPaths[i]) return i;
    }
    return kEndpoints - 1;
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

RequestMetrics::RequestMetrics()
    : requests_("gipam_requests_total", "Plugin API requests by endpoint and result.", "endpoint", endpointNames(),
                "result", {"ok", "refused", "bad_request", "forbidden", "not_found"}) {}

void RequestMetrics::count(std::string_view path, int status, double seconds) {
    const auto endpoint = endpointOf(path);
    requests_.add(endpoint, resultOf(status));
    seconds_[endpoint].observe(seconds);
}

void RequestMetrics::appendTo(std::string& out, std::string_view version) const {
    requests_.appendTo(out);
    metrics::appendHelp(out, "gipam_request_duration_seconds", "histogram",
                        "Time from a request's arrival to its answer, durable write included.");
    const auto names = endpointNames();
    for (std::size_t i = 0; i < kEndpoints; ++i) {
        seconds_[i].appendTo(out, "gipam_request_duration_seconds", "endpoint=\"" + names[i] + "\"");
    }
    metrics::appendHelp(out, "gipam_build_info", "gauge", "Always 1; the version is a label.");
    out += "gipam_build_info{version=\"" + metrics::labelValue(version) + "\"} 1\n";
}

RequestMetrics& requestMetrics() {
    static RequestMetrics instance;
    return instance;
}

}  // namespace gipam::server
