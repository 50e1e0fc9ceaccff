// gipam check, gc and rebuild: gipam's leases against Docker's networks.
#pragma once

#include "main/config.h"

namespace gipam::commands {

/// Prints what leaked, what is missing and what is foreign; exit status 0 if nothing, 1 if
/// anything. With --reserve-missing, holds the missing addresses through the running gipam.
int check(const config::Config& config);
/// Releases what was leaked at two looks --grace apart, through the running gipam's admin API.
int gc(const config::Config& config);
/// Writes a new lease file from Docker's networks.
int rebuild(const config::Config& config);

}  // namespace gipam::commands
