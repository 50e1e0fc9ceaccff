// The two systemd protocols gipam speaks without libsystemd: socket activation and readiness.
#pragma once

#include <optional>
#include <string_view>

namespace gipam::server {

/// The listening socket systemd passed us (LISTEN_PID is ours and LISTEN_FDS >= 1: fd 3), or
/// nullopt when started by hand. Unsets the variables so children do not inherit them.
std::optional<int> socketFromSystemd();

/// Sends a state such as "READY=1" to $NOTIFY_SOCKET; does nothing without one.
void notifySystemd(std::string_view state);

}  // namespace gipam::server
