#include "server/plugin_server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/ErrorHandler.h>
#include <Poco/String.h>
#include <Poco/ThreadPool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <thread>
#include <vector>

#include "fs/atomic_file.h"
#include "json/json_string.h"
#include "log/log.h"
#include "server/admin_api.h"
#include "server/metrics_page.h"
#include "server/listening_socket.h"
#include "server/metrics_server.h"
#include "server/request_metrics.h"
#include "server/systemd.h"

namespace gipam::server {
namespace {

constexpr std::size_t kMaxBodyBytes = 1 << 20;
// dockerd has no timeout of its own, so a stuck request would hang `docker` forever; a
// well-behaved client sends a whole request in microseconds.
constexpr std::chrono::seconds kRequestDeadline{10};
// Connections served at once, and as many again queued for a thread.
constexpr int kMaxConnections = 1024;
// Descriptors kept out of the connections' reach: the lease file's temp file and directory, the
// listening socket, standard streams, systemd's notify socket, and POCO's own.
constexpr rlim_t kReservedFiles = 64;
constexpr int kMinConnections = 16;
constexpr int kThreadStackBytes = 512 * 1024;
// dockerd on a Unix socket sends an empty Host (20.10) or this one (23.0.7 and later).
constexpr char kDockerUnixHost[] = "plugin.moby.localhost";
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

// Why a request on TCP is not from dockerd, or "" if it may be.
std::string foreignRequest(const Poco::Net::HTTPServerRequest& request, const std::vector<std::string>& hosts) {
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

// What a connection ended with reaches POCO's error handler: a failed TLS handshake, a missing or
// untrusted client certificate, a request past its deadline. The rest is clients hanging up.
class ConnectionErrorLog : public Poco::ErrorHandler {
public:
    void exception(const Poco::Exception& error) override {
        // A client that leaves while its kept-alive TLS connection is idle ends it with an EOF.
        const bool hungUp = error.displayText().find("unexpected eof") != std::string::npos;
        if ((dynamic_cast<const Poco::Net::SSLException*>(&error) && !hungUp) ||
            dynamic_cast<const Poco::TimeoutException*>(&error)) {
            log::warning("connection refused: " + error.displayText());
        } else {
            log::debug("connection ended: " + error.displayText());
        }
    }
    void exception(const std::exception& error) override { log::warning(std::string("connection ended: ") + error.what()); }
    void exception() override { log::warning("connection ended by an unknown error"); }
};

// How many connections to serve at once. Every connection, served or queued, holds a descriptor:
// with 1024 of each and systemd's default soft limit of 1024, a flood of idle connections left
// the next lease write with "Too many open files".
int connectionLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) throw ListenError(std::string("getrlimit: ") + std::strerror(errno));
    const rlim_t wanted = 2 * static_cast<rlim_t>(kMaxConnections) + kReservedFiles;
    if (limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = std::min(wanted, limit.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    const rlim_t connections = limit.rlim_cur > kReservedFiles ? (limit.rlim_cur - kReservedFiles) / 2 : 0;
    if (connections < static_cast<rlim_t>(kMinConnections)) {
        throw ListenError("the open-file limit of " + std::to_string(limit.rlim_cur) + " is too low to serve (gipam needs " +
                          std::to_string(kReservedFiles + 2 * kMinConnections) + ", and uses up to " +
                          std::to_string(wanted) + "; raise LimitNOFILE or ulimit -n)");
    }
    return static_cast<int>(std::min<rlim_t>(connections, kMaxConnections));
}

Poco::Net::Context::Ptr tlsContext(const TlsConfig& tls) {
    try {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Ptr context =
            new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, tls.key.string(), tls.certificate.string(),
                                   tls.ca.string(), Poco::Net::Context::VERIFY_STRICT);
        context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
        // A client certificate names dockerd's host, not the address it happens to connect from.
        context->enableExtendedCertificateVerification(false);
        return context;
    } catch (const Poco::Exception& error) {
        throw ListenError("cannot serve TLS with certificate " + tls.certificate.string() + ", key " + tls.key.string() +
                          " and CA " + tls.ca.string() + ": " + error.displayText());
    }
}

// dockerd reads a .json spec for TLS; it checks <name>.spec first, so only one may exist.
std::string tlsSpec(const std::string& name, const std::string& address, const TlsConfig& tls) {
    const auto absolute = [](const std::filesystem::path& path) {
        return json::quote(std::filesystem::absolute(path).string());
    };
    std::string spec = R"({"Name":)" + json::quote(name) + R"(,"Addr":)" + json::quote("https://" + address) +
                       R"(,"TLSConfig":{"CAFile":)" + absolute(tls.ca);
    if (!tls.dockerCertificate.empty()) {
        spec += R"(,"CertFile":)" + absolute(tls.dockerCertificate) + R"(,"KeyFile":)" + absolute(tls.dockerKey);
    }
    return spec + R"(,"InsecureSkipVerify":false}})" + "\n";
}

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
    const int maxConnections = connectionLimit();
    const auto passedFd = socketFromSystemd();
    const bool tcp = !config_.tcpAddress.empty();
    socket_ = std::make_unique<ListeningSocket>(kRequestDeadline, passedFd,
                                                config_.tls ? tlsContext(*config_.tls) : Poco::Net::Context::Ptr());
    ListeningSocket& socket = *socket_;
    std::vector<std::string> tcpHosts;
    try {
        if (passedFd) {
            // systemd owns the socket file (gipam.socket) and keeps it across our restarts.
            activated_ = true;
            log::info("serving the socket systemd passed (" + socket.address().toString() + ")");
        } else if (!tcp) {
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
            if (config_.tls) {
                // Only holders of a certificate from the CA get in.
            } else if (!address.host().isLoopback()) {
                log::warning("listening on " + address.toString() +
                             " beyond loopback without TLS: anyone who can reach it can take and release "
                             "addresses (use --tls-cert, --tls-key and --tls-ca)");
            } else {
                log::warning("listening on " + address.toString() +
                             " without TLS: every local user can take and release addresses (the Unix socket "
                             "is for root and --socket-group only)");
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
    if (tcp) {
        // What dockerd sends as Host: the spec's address, or nothing (it also sends
        // plugin.moby.localhost on sockets, and a systemd-passed socket may be TCP).
        const std::string specAddress = endpoint().substr(std::string_view("tcp://").size());
        tcpHosts = {"", kDockerUnixHost, specAddress, config_.tcpAddress};
    }

    // dockerd finds a TCP gipam through <name>.spec, or <name>.json with TLS, and checks .spec
    // first; on the Unix socket a leftover of either would send it to a dead address once our
    // socket is gone. So write the one that fits and remove the others.
    const auto spec = config_.specDir / (config_.name + ".spec");
    const auto tlsSpecPath = config_.specDir / (config_.name + ".json");
    const auto written = !tcp ? std::filesystem::path() : config_.tls ? tlsSpecPath : spec;
    try {
        if (!activated_) {
            for (const auto& path : {spec, tlsSpecPath}) {
                if (path != written && std::filesystem::remove(path)) log::info("removed leftover spec file " + path.string());
            }
        }
        if (!activated_ && tcp) {
            std::filesystem::create_directories(config_.specDir);
            const std::string address = endpoint().substr(std::string_view("tcp://").size());
            fs::writeFileAtomically(written, config_.tls ? tlsSpec(config_.name, address, *config_.tls)
                                                            : endpoint() + "\n",
                                       0644);
            specPath_ = written;
        }
    } catch (const std::exception& error) {
        throw ListenError("cannot write spec file " + written.string() + ": " + error.what());
    }

    static ConnectionErrorLog connectionErrors;
    Poco::ErrorHandler::set(&connectionErrors);
    auto params = new Poco::Net::HTTPServerParams;
    // POCO serves each open connection, busy or idle, on a thread of its own; enough small-stack
    // threads that hundreds of kept-alive clients do not starve dockerd, and a keep-alive limit
    // that gives idle ones back.
    params->setMaxQueued(maxConnections);
    params->setMaxThreads(maxConnections);
    params->setTimeout(Poco::Timespan(10, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    params->setMaxKeepAliveRequests(0);
    // A dispatcher thread that misses POCO's stop notification waits this long before it sees the
    // stop, and stop() waits for it: with POCO's default of 10 s, a restart stalled that long.
    params->setThreadIdleTime(Poco::Timespan(0, 250'000));
    threads_ = std::make_unique<Poco::ThreadPool>(2, maxConnections, 60, kThreadStackBytes);
    http_ = std::make_unique<Poco::Net::HTTPServer>(new ApiHandlerFactory(api_, socket, std::move(tcpHosts), config_.tls.has_value()),
                                                    *threads_, socket, params);
    http_->start();
    const std::string limits = " (" + std::to_string(maxConnections) + " connections at once)";
    if (!activated_) {
        log::info("listening on " + endpoint() + (config_.tls ? " with TLS" : "") +
                  (specPath_.empty() ? "" : ", spec file " + specPath_.string()) + limits);
    } else {
        log::info("serving" + limits);
    }
}

void PluginServer::stop() {
    if (!http_) return;
    socket_->drain();
    // A request already received gets its answer; its deadline bounds the wait.
    const auto deadline = std::chrono::steady_clock::now() + kRequestDeadline + std::chrono::seconds(1);
    while (socket_->openConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (const int open = socket_->openConnections(); open > 0) {
        log::warning("closing " + std::to_string(open) + " connection(s) still open after " +
                     std::to_string(kRequestDeadline.count() + 1) + " s");
    }
    http_->stopAll(true);
    http_.reset();
    threads_->joinAll();
    socket_.reset();
    std::error_code ignored;
    if (listeningOnUnix_) std::filesystem::remove(config_.socketPath, ignored);
    if (!specPath_.empty()) std::filesystem::remove(specPath_, ignored);
}

}  // namespace gipam::server
