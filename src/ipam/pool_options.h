// The --ipam-opt keys gipam understands, parsed and checked.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/address_allocator.h"
#include "ip/address.h"
#include "store/leases.h"

namespace gipam::ipam {

/// What a network's options ask of its pool. Unknown keys are kept with the pool but ignored.
/// Pool option: addresses gipam never hands out, "PREFIX|FIRST-LAST,..." (either family).
inline constexpr std::string_view kExcludeOption = "gipam.exclude";
/// Pool option: how long a released address cools before an automatic pick reuses it (a
/// duration, as --reuse-delay takes), instead of gipam's --reuse-delay.
inline constexpr std::string_view kReuseDelayOption = "gipam.reuse-delay";
/// The longest reuse delay: a day is far beyond any ARP, conntrack or DNS lifetime.
inline constexpr std::chrono::hours kMaxReuseDelay{24};

/// A duration as Go writes one: "0", "500ms", "30s", "5m", "1h30m" (units h, m, s, ms; a
/// decimal number before each); nullopt for anything else.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

struct PoolOptions {
    std::optional<int> v4BlockLength;  // "v4ab"
    std::optional<int> v6BlockLength;  // "v6ab"
    bool serial = false;               // "com.docker.network.ipam.serial"
    std::vector<store::AddressRun> exclude;  // kExcludeOption
    std::optional<std::chrono::milliseconds> reuseDelay;  // kReuseDelayOption
    /// Throws IpamError naming the key and value for a value that is not valid.
    static PoolOptions parse(const std::map<std::string, std::string>& options);

    std::optional<int> blockLength(ip::Family family) const {
        return family == ip::Family::V4 ? v4BlockLength : v6BlockLength;
    }
};

/// "PREFIX|ADDRESS|FIRST-LAST,..." (either family, spaces around items ignored), as gipam.exclude
/// and --exclude take them; IpamError starting with `what` naming the item that is not one.
std::vector<store::AddressRun> parseExclusions(std::string_view text, const std::string& what);

/// What excludes `address` from a pool with `options`, for messages: "--exclude RANGE" for one of
/// gipam's `excluded`, else "gipam.exclude=VALUE".
std::string exclusionOf(const ip::Address& address, const std::vector<store::AddressRun>& excluded,
                        const std::map<std::string, std::string>& options);

/// Excludes `options.exclude` of the pool's family from `addresses`; IpamError naming a range
/// of that family that is not inside the pool.
void applyExclusions(const PoolOptions& options, alloc::AddressAllocator& addresses);

/// What one pool may carry in options: they are stored with the pool and written on every save.
inline constexpr std::size_t kMaxOptions = 32;
inline constexpr std::size_t kMaxOptionKeyBytes = 128;
inline constexpr std::size_t kMaxOptionValueBytes = 1024;

/// Throws IpamError naming the limit and the option when `options` exceed one of the above.
void checkOptionLimits(const std::map<std::string, std::string>& options);

/// Shortest host-holding block for a family: /30 for IPv4, /126 for IPv6.
constexpr int maxBlockLength(ip::Family family) {
    return family == ip::Family::V4 ? 30 : 126;
}

}  // namespace gipam::ipam
