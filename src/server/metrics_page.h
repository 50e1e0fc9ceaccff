// The Prometheus page: every layer's instruments, and how full the supernets and pools are.
#pragma once

#include <string>

#include "ipam/service.h"

namespace gipam::server {

/// The text exposition: requests (server), refusals and conflicts (ipam), durable writes
/// (store), and the usage of the current state, from the same computation as `gipam leases`.
std::string metricsPage(const ipam::IpamService& service);

}  // namespace gipam::server
