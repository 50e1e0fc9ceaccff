// HTTP for the plugin API, on a Unix socket or TCP, and the files that let dockerd find it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "server/listening_socket.h"
#include "server/plugin_api.h"

namespace Poco::Net {
class HTTPServer;
}
namespace Poco {
class ThreadPool;
}

namespace gipam::server {

/// Mutual TLS on TCP: the files gipam serves with, and those dockerd on this host presents, which
/// go into the .json spec file.
struct TlsConfig {
    std::filesystem::path certificate;  // gipam's server certificate (PEM)
    std::filesystem::path key;          // its private key
    std::filesystem::path ca;           // the CA that signed the clients' (and gipam's) certificates
    std::filesystem::path dockerCertificate;  // for the spec: dockerd's client certificate
    std::filesystem::path dockerKey;          // for the spec: its key
};

/// Where and how to listen.
struct ListenConfig {
    /// "host:port" for TCP (":port" listens on all interfaces); empty for the Unix socket.
    std::string tcpAddress;
    std::filesystem::path socketPath;  // Unix mode, and the stale socket to remove in TCP mode
    std::optional<unsigned> socketGroup;  // group that owns the Unix socket; default: ours
    std::filesystem::path specDir;     // TCP mode writes <specDir>/<name>.spec, or .json with TLS
    std::string name;
    std::optional<TlsConfig> tls;      // TCP only
};

/// Thrown when the server cannot listen; the message names the path or address.
class ListenError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Serves a PluginApi over HTTP, or HTTPS requiring a client certificate. start() adopts the
/// socket systemd passed (socket activation) or binds its own (Unix: creates the directory,
/// replaces a stale socket, mode 0660; TCP: writes the spec file atomically and removes a stale
/// socket of ours). On TCP, only requests as dockerd sends them get in: no Origin or Sec-Fetch-*
/// header (a web page's request has them), and a Host that is empty, plugin.moby.localhost or the
/// listen address (DNS rebinding has the attacker's name); the rest get 403.
/// Connections are capped from the open-file limit, keeping descriptors in reserve for the lease
/// file. stop() drains: it stops accepting, lets every request already received get its answer,
/// closes idle connections, then removes the socket or spec file it made.
class PluginServer {
public:
    PluginServer(PluginApi& api, ListenConfig config);
    ~PluginServer();

    void start();
    void stop();

    /// What dockerd should use to reach us ("unix:///run/..." or "tcp://127.0.0.1:9070").
    std::string endpoint() const;

private:
    PluginApi& api_;
    ListenConfig config_;
    std::unique_ptr<ListeningSocket> socket_;
    std::unique_ptr<Poco::ThreadPool> threads_;
    std::unique_ptr<Poco::Net::HTTPServer> http_;
    std::filesystem::path specPath_;
    bool listeningOnUnix_ = false;
    bool activated_ = false;
};

}  // namespace gipam::server
