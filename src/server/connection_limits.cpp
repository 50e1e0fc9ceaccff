#include "server/connection_limits.h"

#include <Poco/Net/SSLException.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "log/log.h"
#include "server/plugin_server.h"

namespace gipam::server {
namespace {

// Descriptors kept out of the connections' reach: the lease file's temp file and directory, the
// listening socket, standard streams, systemd's notify socket, and POCO's own.
constexpr rlim_t kReservedFiles = 64;
constexpr int kMinConnections = 16;

}  // namespace

// Every connection, served or queued, holds a descriptor: with 1024 of each and systemd's default
// soft limit of 1024, a flood of idle connections left the next lease write with "Too many open
// files".
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

void ConnectionErrorLog::exception(const Poco::Exception& error) {
    // A client that leaves while its kept-alive TLS connection is idle ends it with an EOF.
    const bool hungUp = error.displayText().find("unexpected eof") != std::string::npos;
    if ((dynamic_cast<const Poco::Net::SSLException*>(&error) && !hungUp) ||
        dynamic_cast<const Poco::TimeoutException*>(&error)) {
        log::warning("connection refused: " + error.displayText());
    } else {
        log::debug("connection ended: " + error.displayText());
    }
}

void ConnectionErrorLog::exception(const std::exception& error) {
    log::warning(std::string("connection ended: ") + error.what());
}

void ConnectionErrorLog::exception() { log::warning("connection ended by an unknown error"); }

}  // namespace gipam::server
