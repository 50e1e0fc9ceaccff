#include "server/request_handler.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/String.h>
#include <sys/socket.h>

#include <algorithm>
#include <istream>
#include <optional>

#include "log/log.h"
#include "server/admin_api.h"
#include "server/metrics_page.h"
#include "server/metrics_server.h"
#include "server/request_metrics.h"

namespace gipam::server {
namespace {

constexpr char kContentType[] = "application/vnd.docker.plugins.v1.2+json";

void send(Poco::Net::HTTPServerResponse& response, const Reply& reply) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(kContentType);
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    response.sendBuffer(reply.body.data(), reply.body.size());
}

// A body that ended before its Content-Length.
struct TruncatedBody {
    std::size_t received;
    Poco::Int64 declared;
};

// Reads at most kMaxBodyBytes; nullopt if the body is larger, TruncatedBody if it is cut short.
std::optional<std::string> readBody(Poco::Net::HTTPServerRequest& request) {
    if (request.hasContentLength() && request.getContentLength64() > static_cast<Poco::Int64>(kMaxBodyBytes)) {
        return std::nullopt;
    }
    std::string body;
    // HTTP/1.1: a request with neither length nor chunking has no body; don't wait for one.
    if (!request.hasContentLength() && !request.getChunkedTransferEncoding()) return body;
    std::istream& in = request.stream();
    char buffer[8192];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > kMaxBodyBytes) return std::nullopt;
    }
    // A client that hung up early sent part of a request: acting on it could change state
    // nobody asked for.
    if (request.hasContentLength() && static_cast<Poco::Int64>(body.size()) != request.getContentLength64()) {
        throw TruncatedBody{body.size(), request.getContentLength64()};
    }
    return body;
}

}  // namespace

std::string foreignRequest(const Poco::Net::HTTPRequest& request, const std::vector<std::string>& hosts) {
    for (const auto& [name, value] : request) {
        if (Poco::icompare(name, "Origin") == 0) {
            return "requests from web pages are refused (Origin " + value.substr(0, 128) + ")";
        }
        if (Poco::icompare(name, 0, 10, "Sec-Fetch-") == 0) return "requests from web pages are refused (" + name + ")";
    }
    const std::string host = request.get("Host", "");
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
        return "Host " + host.substr(0, 128) + " is not gipam's address";
    }
    return {};
}

namespace {

class ApiHandler : public Poco::Net::HTTPRequestHandler {
public:
    ApiHandler(PluginApi& api, const ListeningSocket& socket, const std::vector<std::string>& tcpHosts, bool tls)
        : api_(api), socket_(socket), tcpHosts_(tcpHosts), tls_(tls) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        // Stopping: answer, then close, so that the client's next request waits for the next gipam.
        if (socket_.draining()) response.setKeepAlive(false);
        if (!tcpHosts_.empty()) {
            if (const auto why = foreignRequest(request, tcpHosts_); !why.empty()) {
                response.setKeepAlive(false);
                refuse(response, request, {403, errorBody(why)});
                return;
            }
        }
        if (request.getMethod() == Poco::Net::HTTPRequest::HTTP_GET && request.getURI() == "/metrics") {
            sendMetricsPage(response, metricsPage(api_.service()));
            return;
        }
        if (request.getURI().rfind(std::string(admin::kPathPrefix), 0) == 0 && !adminAllowed(request)) {
            response.setKeepAlive(false);  // the body is left unread
            refuse(response, request,
                   {403, errorBody("the admin API is for root on the Unix socket, or a client certificate on TCP")});
            return;
        }
        if (request.getMethod() != Poco::Net::HTTPRequest::HTTP_POST) {
            response.set("Allow", "POST");
            // Any body is left unread, so the connection cannot carry another request.
            response.setKeepAlive(false);
            refuse(response, request, {405, errorBody("method " + request.getMethod() + " is not allowed; use POST")});
            return;
        }
        std::optional<std::string> body;
        try {
            body = readBody(request);
        } catch (const TruncatedBody& truncated) {
            response.setKeepAlive(false);
            refuse(response, request,
                   {400, errorBody("request body ended after " + std::to_string(truncated.received) + " of " +
                                   std::to_string(truncated.declared) + " bytes")});
            return;
        }
        if (!body) {
            // The rest of an oversized body is not read, so the connection cannot be reused.
            response.setKeepAlive(false);
            refuse(response, request, {413, errorBody("request body is larger than 1 MiB")});
            return;
        }
        const auto started = std::chrono::steady_clock::now();
        const Reply reply = api_.handle(request.getURI(), *body);
        requestMetrics().count(
            request.getURI(), reply.status,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (log::enabled(log::Level::Debug)) {
            // dockerd ends each body with a newline; one log line per request.
            std::string shownBody = body->substr(0, body->find_last_not_of("\r\n") + 1);
            std::replace(shownBody.begin(), shownBody.end(), '\n', ' ');
            log::debug(request.getURI() + " " + shownBody + " -> " + std::to_string(reply.status) + " " + reply.body);
        }
        send(response, reply);
    }

private:
    // The admin API (gipam gc) changes state on its own judgement: root only on the Unix socket,
    // and on TCP only behind mutual TLS.
    bool adminAllowed(Poco::Net::HTTPServerRequest& request) const {
        if (!tcpHosts_.empty()) return tls_;
        const auto& socket = static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket();
        ucred peer{};
        socklen_t length = sizeof peer;
        return ::getsockopt(socket.impl()->sockfd(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.uid == 0;
    }

    // Refusals before the request reaches the API; the API logs its own.
    static void refuse(Poco::Net::HTTPServerResponse& response, const Poco::Net::HTTPServerRequest& request,
                       const Reply& reply) {
        requestMetrics().count(request.getURI(), reply.status, 0);
        log::warning(request.getMethod().substr(0, 16) + " " + request.getURI().substr(0, 128) + " from " +
                     request.clientAddress().toString() + " refused with " + std::to_string(reply.status) + ": " +
                     reply.body);
        send(response, reply);
    }

    PluginApi& api_;
    const ListeningSocket& socket_;
    const std::vector<std::string>& tcpHosts_;
    const bool tls_;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    ApiHandlerFactory(PluginApi& api, const ListeningSocket& socket, std::vector<std::string> tcpHosts, bool tls)
        : api_(api), socket_(socket), tcpHosts_(std::move(tcpHosts)), tls_(tls) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new ApiHandler(api_, socket_, tcpHosts_, tls_);
    }

private:
    PluginApi& api_;
    const ListeningSocket& socket_;
    const std::vector<std::string> tcpHosts_;
    const bool tls_;
};

}  // namespace

Poco::Net::HTTPRequestHandlerFactory::Ptr requestHandlers(PluginApi& api, const ListeningSocket& socket,
                                                         std::vector<std::string> tcpHosts, bool tls) {
    return new ApiHandlerFactory(api, socket, std::move(tcpHosts), tls);
}

}  // namespace gipam::server
