// What Docker says it uses of gipam's address plan, from the Engine API.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ip/prefix.h"

namespace gipam::reconcile {

/// An address Docker uses, and what uses it (for the report).
struct DockerAddress {
    ip::Address address;
    std::string user;  // "gateway", "aux router", "container web1", "VIP of service s1", ...
};

/// One IPAM config (subnet) of a network whose IPAM driver is gipam.
struct DockerPool {
    std::string network;  // name
    bool swarm = false;   // swarm scope: its pool is gipam-global on the managers
    ip::Prefix subnet;
    std::optional<ip::Prefix> subPool;  // Docker's IPRange
    std::vector<DockerAddress> addresses;  // gateway, aux addresses and endpoints in this subnet
    bool gatewayShown = false;  // Docker shows no gateway for a --subnet given without --gateway

    /// The address gipam gave the gateway when Docker shows none: a gateway request gets the
    /// lowest free host address, and it is the first request in a new pool.
    ip::Address firstHost() const { return subnet.at(subnet.hostBits() < 2 ? 0 : 1); }
};

/// The pools of every network whose IPAM driver is `driver` or `driver:<tag>` (a managed
/// plugin), with the addresses Docker shows in them. Throws UnreachableError (dockerd down) or
/// std::runtime_error (an answer it cannot read), naming the socket.
std::vector<DockerPool> readDockerPools(const std::filesystem::path& dockerSocket, const std::string& driver);

}  // namespace gipam::reconcile
