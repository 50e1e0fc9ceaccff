#include "ipam/requests.h"

#include "ipam/pool_options.h"

namespace gipam::ipam {

using ReserveResult = alloc::AddressAllocator::ReserveResult;

ip::Prefix parsePrefix(const std::string& text, const std::string& what) {
    try {
        return ip::Prefix::parse(text);
    } catch (const ip::ParseError& error) {
        throw IpamError(what + " " + error.what());
    }
}

ip::Address parseAddress(const std::string& text, const std::string& what) {
    try {
        return ip::Address::parse(text);
    } catch (const ip::ParseError& error) {
        throw IpamError(what + " " + error.what());
    }
}

bool isGatewayRequest(const Options& options) {
    const auto it = options.find(std::string(kRequestAddressType));
    return it != options.end() && it->second == kGatewayType;
}

std::string describeReserveFailure(ReserveResult result, const ip::Address& address, const ip::Prefix& pool,
                                   const std::string& poolId, const std::string& exclusion) {
    const std::string text = address.toString();
    switch (result) {
        case ReserveResult::Excluded:
            return "address " + text + " is excluded from pool " + poolId + " (" + exclusion + ")";
        case ReserveResult::AlreadyHeld:
            return "address " + text + " is already allocated in pool " + poolId;
        case ReserveResult::NotAHost:
            if (address == pool.network()) return "address " + text + " is the network address of pool " + poolId;
            return "address " + text + " is the broadcast address of pool " + poolId;
        case ReserveResult::NotInPool:
            if (address.family() != pool.family()) {
                return "address " + text + " is " + std::string(ip::familyName(address.family())) + " but pool " +
                       poolId + " is " + std::string(ip::familyName(pool.family()));
            }
            return "address " + text + " is outside pool " + poolId;
        case ReserveResult::Reserved:
            break;
    }
    return {};
}

std::string poolIdFor(std::string_view space, const ip::Prefix& pool, const std::optional<ip::Prefix>& range) {
    return std::string(space) + "/" + pool.toString() + (range ? "/" + range->toString() : "");
}

std::string_view refusalName(Refusal reason) {
    switch (reason) {
        case Refusal::Overlap: return "overlap";
        case Refusal::Exhausted: return "exhausted";
        case Refusal::UnknownPool: return "unknown_pool";
        case Refusal::AlreadyAllocated: return "already_allocated";
        case Refusal::Limit: return "limit";
        case Refusal::StoreFailure: return "store_failure";
        case Refusal::Contention: return "contention";
        case Refusal::Invalid: break;
    }
    return "invalid";
}

IpamError noFreeAddress(const Pool& pool) {
    const auto& addresses = pool.addresses;
    const auto& subPool = addresses.subPool();
    return IpamError("no free " + std::string(ip::familyName(addresses.pool().family())) + " address in " +
                         (subPool ? "ip-range " + subPool->toString() + " of " : std::string()) + "pool " + pool.id,
                     Refusal::Exhausted);
}

}  // namespace gipam::ipam
