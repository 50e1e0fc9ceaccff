// The server socket gipam listens on: bound by us or adopted from systemd, plain or TLS, with
// connections that enforce a per-request deadline and can be drained for a clean stop.
#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/ServerSocket.h>

#include <chrono>
#include <optional>

namespace gipam::server {

/// A ServerSocket whose accepted connections give each request at most `requestDeadline` from
/// its first byte to its response. A client that trickles a request (one byte a second) is cut
/// off instead of holding a server thread forever; idle keep-alive connections are not affected.
/// With a TLS context, every connection is TLS (the handshake runs on the connection's thread).
/// Copies share one socket, as ServerSocket copies do.
class ListeningSocket : public Poco::Net::ServerSocket {
public:
    /// Adopts `listeningFd` (socket activation) or makes a new socket, to bind() and listen().
    ListeningSocket(std::chrono::seconds requestDeadline, std::optional<int> listeningFd,
                    Poco::Net::Context::Ptr tls = {});

    /// Stops accepting and returns once no accept is under way: connections not yet accepted
    /// stay in the kernel's queue (for the next process, when systemd holds the socket). Idle
    /// kept-alive connections then close; one whose request has arrived serves it first.
    void drain();
    bool draining() const;
    /// Connections accepted and not yet closed.
    int openConnections() const;
};

}  // namespace gipam::server
