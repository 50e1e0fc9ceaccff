// The files that let dockerd find gipam: the spec file in TCP mode, and the socket file in Unix
// mode, with what a crash left of them.
#pragma once

#include <filesystem>
#include <string>

#include "server/plugin_server.h"

namespace gipam::server {

/// The .json spec dockerd reads for TLS (it checks <name>.spec first, so only one may exist):
/// gipam's https address, the CA, and dockerd's own certificate and key.
std::string tlsSpec(const std::string& name, const std::string& address, const TlsConfig& tls);

/// Removes a socket file nobody accepts on (left by a crash); ListenError if a process still
/// listens on it. Anything that is not a socket is left alone.
void removeStaleSocket(const std::filesystem::path& path);

}  // namespace gipam::server
