// /metrics on a TCP address of its own (--metrics-address), for Prometheus, which scrapes TCP.
// The plugin socket serves the same page at GET /metrics too.
#pragma once

#include <memory>
#include <string>

#include "server/plugin_api.h"

namespace Poco::Net {
class HTTPServer;
class HTTPServerResponse;
}  // namespace Poco::Net

namespace gipam::server {

/// Sends the exposition with Prometheus's content type.
void sendMetricsPage(Poco::Net::HTTPServerResponse& response, const std::string& page);

/// Serves GET /metrics on `address` ("host:port"); anything else gets 404. An address beyond
/// loopback is served with a warning: the page tells who uses how much of the address plan.
class MetricsServer {
public:
    MetricsServer(const PluginApi& api, std::string address);
    ~MetricsServer();
    /// Throws ListenError naming the address if it cannot listen.
    void start();
    void stop();

private:
    const PluginApi& api_;
    std::string address_;
    std::unique_ptr<Poco::Net::HTTPServer> http_;
};

}  // namespace gipam::server
