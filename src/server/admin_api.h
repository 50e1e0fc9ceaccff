// gipam's admin API, for `gipam gc` and `gipam check`: its paths and the JSON of each request and
// answer, written and read here only (the server answers with it, the commands ask with it).
// Served on the plugin socket to root only, and on TCP only behind mutual TLS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ipam/service.h"

namespace gipam::server::admin {

inline constexpr std::string_view kPathPrefix = "/Gipam.";
/// {} -> Observation: the state and its change number, taken together.
inline constexpr std::string_view kObserve = "/Gipam.Observe";
/// ReleaseLeaked -> Released: one leaked pool or address, against a first look.
inline constexpr std::string_view kReleaseLeaked = "/Gipam.ReleaseLeaked";
/// StoreLeak -> Released: one leak in a store shared between nodes, as seen at both looks.
inline constexpr std::string_view kReleaseStoreLeak = "/Gipam.ReleaseStoreLeak";

std::string encodeObservation(const ipam::IpamService::Observation& observation);
/// Throws BadRequest for a body that is not one.
ipam::IpamService::Observation decodeObservation(std::string_view body);

struct ReleaseLeaked {
    std::string poolId;
    std::string address;  // "" for the whole pool
    std::uint64_t observedChange = 0;
    std::uint64_t observationId = 0;  // the first look's (Observation::observationId)
};
std::string encodeReleaseLeaked(const ReleaseLeaked& request);
ReleaseLeaked decodeReleaseLeaked(std::string_view body);

std::string encodeStoreLeak(const store::StoreLeak& leak);
store::StoreLeak decodeStoreLeak(std::string_view body);

/// {"Released": true|false}
std::string encodeReleased(bool released);
bool decodeReleased(std::string_view body);

}  // namespace gipam::server::admin
