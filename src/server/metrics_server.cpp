#include "server/metrics_server.h"

#include "server/metrics_page.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include "log/log.h"
#include "server/plugin_server.h"

namespace gipam::server {
namespace {

class MetricsHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit MetricsHandler(const PluginApi& api) : api_(api) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        if (request.getMethod() == Poco::Net::HTTPRequest::HTTP_GET && request.getURI() == "/metrics") {
            sendMetricsPage(response, metricsPage(api_.service()));
            return;
        }
        response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_NOT_FOUND);
        response.setContentType("text/plain");
        response.send() << "gipam serves GET /metrics here\n";
    }

private:
    const PluginApi& api_;
};

class MetricsHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit MetricsHandlerFactory(const PluginApi& api) : api_(api) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new MetricsHandler(api_);
    }

private:
    const PluginApi& api_;
};

}  // namespace

void sendMetricsPage(Poco::Net::HTTPServerResponse& response, const std::string& page) {
    response.setContentType("text/plain; version=0.0.4; charset=utf-8");
    response.setContentLength(static_cast<std::streamsize>(page.size()));
    response.sendBuffer(page.data(), page.size());
}

MetricsServer::MetricsServer(const PluginApi& api, std::string address) : api_(api), address_(std::move(address)) {}

MetricsServer::~MetricsServer() {
    stop();
}

void MetricsServer::start() {
    try {
        const Poco::Net::SocketAddress address(address_);
        if (!address.host().isLoopback()) {
            log::warning("serving metrics on " + address.toString() +
                         " beyond loopback: anyone who reaches it sees how the address plan is used");
        }
        Poco::Net::ServerSocket socket(address, 64);
        auto params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(2);
        params->setMaxQueued(16);
        params->setKeepAlive(true);
        params->setTimeout(Poco::Timespan(10, 0));
        http_ = std::make_unique<Poco::Net::HTTPServer>(new MetricsHandlerFactory(api_), socket, params);
        http_->start();
        log::info("serving metrics on http://" + address.toString() + "/metrics");
    } catch (const Poco::Exception& error) {
        throw ListenError("cannot serve metrics on " + address_ + ": " + error.displayText());
    }
}

void MetricsServer::stop() {
    if (!http_) return;
    http_->stopAll(true);
    http_.reset();
}

}  // namespace gipam::server
