#include "server/plugin_server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/ThreadPool.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <istream>

#include "log/log.h"
#include "server/listening_socket.h"
#include "server/systemd.h"
#include "store/atomic_file.h"

namespace gipam::server {
namespace {

constexpr std::size_t kMaxBodyBytes = 1 << 20;
// dockerd has no timeout of its own, so a stuck request would hang `docker` forever; a
// well-behaved client sends a whole request in microseconds.
constexpr std::chrono::seconds kRequestDeadline{10};
constexpr int kMaxConnections = 1024;
constexpr int kThreadStackBytes = 512 * 1024;
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

class ApiHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit ApiHandler(PluginApi& api) : api_(api) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        if (request.getMethod() != Poco::Net::HTTPRequest::HTTP_POST) {
            response.set("Allow", "POST");
            // Any body is left unread, so the connection cannot carry another request.
            response.setKeepAlive(false);
            send(response, {405, errorBody("method " + request.getMethod() + " is not allowed; use POST")});
            return;
        }
        std::optional<std::string> body;
        try {
            body = readBody(request);
        } catch (const TruncatedBody& truncated) {
            response.setKeepAlive(false);
            send(response, {400, errorBody("request body ended after " + std::to_string(truncated.received) + " of " +
                                           std::to_string(truncated.declared) + " bytes")});
            return;
        }
        if (!body) {
            // The rest of an oversized body is not read, so the connection cannot be reused.
            response.setKeepAlive(false);
            send(response, {413, errorBody("request body is larger than 1 MiB")});
            return;
        }
        const Reply reply = api_.handle(request.getURI(), *body);
        if (log::enabled(log::Level::Debug)) {
            log::debug(request.getURI() + " " + *body + " -> " + std::to_string(reply.status) + " " + reply.body);
        }
        send(response, reply);
    }

private:
    PluginApi& api_;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit ApiHandlerFactory(PluginApi& api) : api_(api) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new ApiHandler(api_);
    }

private:
    PluginApi& api_;
};

bool isSocket(const std::filesystem::path& path) {
    std::error_code error;
    return std::filesystem::is_socket(std::filesystem::symlink_status(path, error));
}

// A socket file nobody accepts on is left over from a crash and may be replaced.
void removeStaleSocket(const std::filesystem::path& path) {
    if (!isSocket(path)) return;
    try {
        Poco::Net::StreamSocket probe;
        probe.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path.string()));
    } catch (const Poco::Exception&) {
        std::filesystem::remove(path);
        log::info("removed stale socket " + path.string());
        return;
    }
    throw ListenError("socket " + path.string() + " is in use by a running process");
}

// "host:port" or ":port" to a SocketAddress; throws ListenError naming the text.
Poco::Net::SocketAddress parseTcpAddress(const std::string& text) {
    try {
        if (!text.empty() && text.front() == ':') return Poco::Net::SocketAddress("0.0.0.0" + text);
        return Poco::Net::SocketAddress(text);
    } catch (const Poco::Exception& error) {
        throw ListenError("-address " + text + " is not host:port: " + error.message());
    }
}

}  // namespace

PluginServer::PluginServer(PluginApi& api, ListenConfig config) : api_(api), config_(std::move(config)) {}

PluginServer::~PluginServer() {
    stop();
}

std::string PluginServer::endpoint() const {
    if (config_.tcpAddress.empty()) return "unix://" + config_.socketPath.string();
    auto address = parseTcpAddress(config_.tcpAddress);
    // dockerd reaches a wildcard listener through loopback.
    if (address.host().isWildcard()) return "tcp://127.0.0.1:" + std::to_string(address.port());
    return "tcp://" + address.toString();
}

void PluginServer::start() {
    const auto passedFd = socketFromSystemd();
    ListeningSocket socket =
        passedFd ? ListeningSocket(kRequestDeadline, *passedFd) : ListeningSocket(kRequestDeadline);
    try {
        if (passedFd) {
            // systemd owns the socket file (gipam.socket) and keeps it across our restarts.
            activated_ = true;
            log::info("serving the socket systemd passed (" + socket.address().toString() + ")");
        } else if (config_.tcpAddress.empty()) {
            std::filesystem::create_directories(config_.socketPath.parent_path());
            removeStaleSocket(config_.socketPath);
            socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, config_.socketPath.string()));
            if ((config_.socketGroup &&
                 ::chown(config_.socketPath.c_str(), static_cast<uid_t>(-1), *config_.socketGroup) != 0) ||
                ::chmod(config_.socketPath.c_str(), 0660) != 0) {
                throw ListenError("cannot set owner and mode of " + config_.socketPath.string() + ": " +
                                  std::strerror(errno));
            }
            socket.listen(128);
            listeningOnUnix_ = true;
        } else {
            const auto address = parseTcpAddress(config_.tcpAddress);
            if (!address.host().isLoopback()) {
                log::warning("listening on " + address.toString() +
                             " beyond loopback: the plugin API has no authentication, anyone who can reach it "
                             "can take and release addresses");
            }
            socket.bind(address, true);
            socket.listen(128);
            removeStaleSocket(config_.socketPath);
        }
    } catch (const Poco::Exception& error) {
        throw ListenError("cannot listen on " + endpoint() + ": " + error.displayText());
    } catch (const std::filesystem::filesystem_error& error) {
        throw ListenError(std::string("cannot prepare ") + error.path1().string() + ": " + error.code().message());
    }

    // TCP: dockerd finds us through the spec file. Unix: a leftover spec would send dockerd to
    // a dead address once our socket is gone, so remove it.
    const auto specPath = config_.specDir / (config_.name + ".spec");
    try {
        if (activated_) {
            // The socket unit decides where dockerd finds us; no files of ours to manage.
        } else if (config_.tcpAddress.empty()) {
            if (std::filesystem::remove(specPath)) log::info("removed leftover spec file " + specPath.string());
        } else {
            std::filesystem::create_directories(config_.specDir);
            store::writeFileAtomically(specPath, endpoint() + "\n", 0644);
            specPath_ = specPath;
        }
    } catch (const std::exception& error) {
        throw ListenError("cannot write spec file " + specPath.string() + ": " + error.what());
    }

    auto params = new Poco::Net::HTTPServerParams;
    // POCO serves each open connection, busy or idle, on a thread of its own; enough small-stack
    // threads that hundreds of kept-alive clients do not starve dockerd, and a keep-alive limit
    // that gives idle ones back.
    params->setMaxQueued(kMaxConnections);
    params->setMaxThreads(kMaxConnections);
    params->setTimeout(Poco::Timespan(10, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    params->setMaxKeepAliveRequests(0);
    threads_ = std::make_unique<Poco::ThreadPool>(2, kMaxConnections, 60, kThreadStackBytes);
    http_ = std::make_unique<Poco::Net::HTTPServer>(new ApiHandlerFactory(api_), *threads_, socket, params);
    http_->start();
    if (!activated_) {
        log::info("listening on " + endpoint() + (specPath_.empty() ? "" : " (spec file " + specPath_.string() + ")"));
    }
}

void PluginServer::stop() {
    if (!http_) return;
    http_->stopAll(true);
    http_.reset();
    threads_->joinAll();
    std::error_code ignored;
    if (listeningOnUnix_) std::filesystem::remove(config_.socketPath, ignored);
    if (!specPath_.empty()) std::filesystem::remove(specPath_, ignored);
}

}  // namespace gipam::server
