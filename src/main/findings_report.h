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

}  // namespace gipam::commands
