// What Docker sends, as gipam names and parses it, and how a refusal is worded.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "alloc/address_allocator.h"
#include "ipam/pool_table.h"

namespace gipam::ipam {

inline constexpr std::string_view kLocalAddressSpace = "gipam-local";
inline constexpr std::string_view kGlobalAddressSpace = "gipam-global";
/// RequestAddress option that marks the network's gateway request.
inline constexpr std::string_view kRequestAddressType = "RequestAddressType";
inline constexpr std::string_view kGatewayType = "com.docker.network.gateway";
/// Pool option: hand addresses out round-robin instead of lowest first.
inline constexpr std::string_view kSerialOption = "com.docker.network.ipam.serial";
/// RequestAddress option naming the container (Docker 29+): marks a container's request, and is logged.
inline constexpr std::string_view kEndpointNameOption = "com.docker.network.endpoint.name";

/// The PoolID gipam gives a pool: "<space>/<pool>[/<ip-range>]". It never changes.
std::string poolIdFor(std::string_view space, const ip::Prefix& pool, const std::optional<ip::Prefix>& range);

/// Why a request was refused: a fixed set, so that metrics labelled with it stay bounded.
enum class Refusal { Invalid, Overlap, Exhausted, UnknownPool, AlreadyAllocated, Limit, StoreFailure, Contention };
inline constexpr Refusal kRefusals[] = {Refusal::Invalid,     Refusal::Overlap,          Refusal::Exhausted,
                                        Refusal::UnknownPool, Refusal::AlreadyAllocated, Refusal::Limit,
                                        Refusal::StoreFailure, Refusal::Contention};
/// "overlap", "exhausted", ... (snake case, for metric labels).
std::string_view refusalName(Refusal reason);

/// A refused request; the message is a sentence naming the offending value and reaches the
/// Docker user verbatim.
class IpamError : public std::runtime_error {
public:
    explicit IpamError(const std::string& message, Refusal reason = Refusal::Invalid)
        : std::runtime_error(message), reason_(reason) {}
    Refusal reason() const { return reason_; }

private:
    Refusal reason_;
};

/// `text` as a prefix, or IpamError naming it as `what` ("subnet", "ip-range").
ip::Prefix parsePrefix(const std::string& text, const std::string& what);
/// `text` as an address, or IpamError naming it as `what`.
ip::Address parseAddress(const std::string& text, const std::string& what);
/// Whether a RequestAddress asks for the network's gateway.
bool isGatewayRequest(const Options& options);
/// The refusal of a dynamic request in a pool (or its ip-range) with no free address left.
IpamError noFreeAddress(const Pool& pool);
/// Why `address` could not be held in pool `poolId`, as a sentence for Docker.
/// `exclusion`: what excludes it (exclusionOf), named when the address is excluded.
std::string describeReserveFailure(alloc::AddressAllocator::ReserveResult result, const ip::Address& address,
                                   const ip::Prefix& pool, const std::string& poolId, const std::string& exclusion = {});

}  // namespace gipam::ipam
