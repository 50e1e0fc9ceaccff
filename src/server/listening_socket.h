// The server socket gipam listens on: bound by us or adopted from systemd, with connections
// that enforce a per-request deadline.
#pragma once

#include <Poco/Net/ServerSocket.h>

#include <chrono>

namespace gipam::server {

/// A ServerSocket whose accepted connections give each request at most `requestDeadline` from
/// its first byte to its response. A client that trickles a request (one byte a second) is cut
/// off instead of holding a server thread forever; idle keep-alive connections are not affected.
class ListeningSocket : public Poco::Net::ServerSocket {
public:
    /// A new socket, to bind() and listen() as usual.
    explicit ListeningSocket(std::chrono::seconds requestDeadline);
    /// Adopts an already listening descriptor (socket activation).
    ListeningSocket(std::chrono::seconds requestDeadline, int listeningFd);
};

}  // namespace gipam::server
