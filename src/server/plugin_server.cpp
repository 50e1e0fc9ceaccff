#include "server/plugin_server.h"

#include <Poco/ErrorHandler.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/ThreadPool.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "fs/atomic_file.h"
#include "log/log.h"
#include "server/connection_limits.h"
#include "server/listening_socket.h"
#include "server/request_handler.h"
#include "server/spec_file.h"
#include "server/systemd.h"
#include "server/tls_context.h"

namespace gipam::server {
namespace {

// dockerd has no timeout of its own, so a stuck request would hang `docker` forever; a
// well-behaved client sends a whole request in microseconds.
constexpr std::chrono::seconds kRequestDeadline{10};

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
    http_ = std::make_unique<Poco::Net::HTTPServer>(requestHandlers(api_, socket, std::move(tcpHosts), config_.tls.has_value()),
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
