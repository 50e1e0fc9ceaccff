// `gipam leases`: what the lease file holds, for people (text) and scripts (--json).
#pragma once

#include <string>

#include "store/leases.h"

namespace gipam::report {

/// The supernets (blocks held and free, addresses held), the exclusions (--exclude) and every
/// pool (ID, prefix, family, ip-range, options, held, usable and cooling addresses); with
/// `verbose`, each pool's held runs and cooling addresses (until when) too.
std::string leasesText(const store::Leases& leases, const std::string& file, bool verbose);
/// The same as one JSON object; counts are decimal strings (a /64 holds 2^64 addresses).
std::string leasesJson(const store::Leases& leases, const std::string& file, bool verbose);

}  // namespace gipam::report
