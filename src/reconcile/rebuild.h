// gipam rebuild's side of reconcile: the pools a lost lease file held, as Docker shows them.
#pragma once

#include <cstddef>
#include <vector>

#include "reconcile/docker_view.h"
#include "store/leases.h"

namespace gipam::reconcile {

struct Rebuilt {
    std::vector<store::PoolRecord> pools;
    std::size_t swarmNetworks = 0;
};

/// The pools gipam would hold for Docker's networks, with the IDs it would have given them and
/// the addresses Docker shows (the gateway too where Docker shows none: the bridge has it). A
/// swarm network gets the manager's gipam-global pool and this node's copy, both with its
/// addresses. Options and the Go gipam's random IDs cannot be recovered: Docker shows neither.
Rebuilt poolsFromDocker(const std::vector<DockerPool>& docker);

}  // namespace gipam::reconcile
