// The lease file as robustness tests see it: read with Poco JSON, independently of src/store,
// and checked for what must never happen (an address held twice, overlapping pools).
#pragma once

#include <compare>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gipam::testing {

using U128 = unsigned __int128;

/// An IPv4 or IPv6 address as a number; the test's own parser (inet_pton), not src/ip.
struct Ip {
    bool v6 = false;
    U128 value = 0;

    /// nullopt unless `text` is exactly one address (no zone, no prefix length).
    static std::optional<Ip> parse(const std::string& text);
    std::string toString() const;
    auto operator<=>(const Ip&) const = default;
};

/// A prefix without host bits.
struct Cidr {
    Ip network;
    int length = 0;

    /// nullopt unless `text` is "address/length" with the length in range and no host bits.
    static std::optional<Cidr> parse(const std::string& text);
    /// Like parse, but a malformed constant in a test is a bug in the test: throws.
    static Cidr of(const std::string& text);
    int width() const { return network.v6 ? 128 : 32; }
    U128 hostMask() const;
    bool contains(const Ip& ip) const;
    bool contains(const Cidr& other) const { return other.length >= length && contains(other.network); }
    bool overlaps(const Cidr& other) const { return contains(other) || other.contains(*this); }
    /// The address `offset` from the network address.
    Ip at(U128 offset) const { return {network.v6, network.value + offset}; }
    std::string toString() const { return network.toString() + "/" + std::to_string(length); }
    auto operator<=>(const Cidr&) const = default;
};

struct PoolLease {
    Cidr pool;
    std::set<Ip> addresses;
    bool operator==(const PoolLease&) const = default;
};

/// A parsed lease file: pools by ID with their held addresses expanded. `problems` lists every
/// violation found (unparsable, an address twice, overlapping pools, an address outside its
/// pool, runs out of order); empty means the file is consistent.
struct LeaseSnapshot {
    std::map<std::string, PoolLease> pools;
    std::vector<std::string> problems;

    std::size_t addressCount() const;
    /// The problems joined for a failure message.
    std::string describeProblems() const;
};

LeaseSnapshot parseLeaseSnapshot(const std::string& text);
LeaseSnapshot readLeaseSnapshot(const std::filesystem::path& file);

}  // namespace gipam::testing
