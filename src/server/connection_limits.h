// How many connections the plugin server takes at once, and what it logs of the ones that end
// badly.
#pragma once

#include <Poco/ErrorHandler.h>

namespace gipam::server {

/// Connections served at once (and as many again queued for a thread), at most.
inline constexpr int kMaxConnections = 1024;
/// Stack of each connection's thread.
inline constexpr int kThreadStackBytes = 512 * 1024;

/// How many connections to serve at once: raises the soft open-file limit to the hard one as far
/// as needed, keeps descriptors in reserve for the lease file, and throws ListenError when the
/// limit is too low to serve at all.
int connectionLimit();

/// What a connection ended with reaches POCO's error handler: a failed TLS handshake, a missing or
/// untrusted client certificate, a request past its deadline (warnings). The rest is clients
/// hanging up (debug).
class ConnectionErrorLog : public Poco::ErrorHandler {
public:
    void exception(const Poco::Exception& error) override;
    void exception(const std::exception& error) override;
    void exception() override;
};

}  // namespace gipam::server
