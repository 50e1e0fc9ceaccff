// HTTP for the plugin API, on a Unix socket or TCP, and the files that let dockerd find it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "server/plugin_api.h"

namespace Poco::Net {
class HTTPServer;
}
namespace Poco {
class ThreadPool;
}

namespace gipam::server {

/// Where and how to listen.
struct ListenConfig {
    /// "host:port" for TCP (":port" listens on all interfaces); empty for the Unix socket.
    std::string tcpAddress;
    std::filesystem::path socketPath;  // Unix mode, and the stale socket to remove in TCP mode
    std::optional<unsigned> socketGroup;  // group that owns the Unix socket; default: ours
    std::filesystem::path specDir;     // TCP mode writes <specDir>/<name>.spec
    std::string name;
};

/// Thrown when the server cannot listen; the message names the path or address.
class ListenError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Serves a PluginApi over HTTP. start() adopts the socket systemd passed (socket activation)
/// or binds its own (Unix: creates the directory, replaces a stale socket, mode 0660; TCP: writes
/// the spec file atomically and removes a stale socket of ours); stop() closes and removes the
/// socket or spec file it made.
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
    std::unique_ptr<Poco::ThreadPool> threads_;
    std::unique_ptr<Poco::Net::HTTPServer> http_;
    std::filesystem::path specPath_;
    bool listeningOnUnix_ = false;
    bool activated_ = false;
};

}  // namespace gipam::server
