// `gipam check`'s report of its findings: the text people read, and the JSON (--json) scripts
// read, whose keys are the README's.
#pragma once

#include <string>

#include "reconcile/findings.h"

namespace gipam::commands {

/// One object: leakedPools, leakedAddresses, missingPools, missingAddresses, foreign and
/// storeLeaks, each a list; a newline after it.
std::string findingsJson(const reconcile::Findings& findings);
/// What is missing first (Docker uses it, gipam would hand it out again), then what leaked.
std::string findingsText(const reconcile::Findings& findings);
/// The counts as Prometheus text (gipam_check_*, and the time of this check in seconds since the
/// epoch), what gipam's alert rules read through node_exporter's textfile collector.
std::string findingsMetrics(const reconcile::Findings& findings, long long checkedAt);

}  // namespace gipam::commands
