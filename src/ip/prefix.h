// CIDR prefixes: a network address and a length, with no host bits set.
#pragma once

#include <vector>

#include "ip/address.h"

namespace gipam::ip {

/// A CIDR prefix such as 198.18.4.0/24. Always canonical: host bits are zero.
class Prefix {
public:
    /// `network` must have no bits set below `length`; throws ParseError otherwise.
    Prefix(Address network, int length);

    /// Parses "address/length". Host bits set is an error that names the canonical form
    /// ("198.18.4.1/24 has host bits set; did you mean 198.18.4.0/24?").
    static Prefix parse(std::string_view text);

    Family family() const { return network_.family(); }
    const Address& network() const { return network_; }
    int length() const { return length_; }
    /// Bits below the prefix: 32 - length or 128 - length.
    int hostBits() const { return bitWidth(family()) - length_; }
    /// Offset of the last address from the first (size - 1, which never overflows).
    U128 lastOffset() const { return lowMask(hostBits()); }
    Address last() const { return Address(family(), network_.value() | lastOffset()); }
    /// The address `offset` places after the network address; offset must be <= lastOffset().
    Address at(U128 offset) const { return Address(family(), network_.value() + offset); }
    /// Offset of an address inside this prefix; the address must be contained.
    U128 offsetOf(const Address& address) const { return address.value() - network_.value(); }

    bool contains(const Address& address) const;
    bool contains(const Prefix& other) const;
    bool overlaps(const Prefix& other) const;

    std::string toString() const;

    auto operator<=>(const Prefix&) const = default;

private:
    Address network_;
    int length_;
};

/// The fewest prefixes that together are exactly [first, last] (one family, first <= last), in
/// ascending order: at most 2 x 128 of them, however wide the range.
std::vector<Prefix> prefixesCovering(const Address& first, const Address& last);

}  // namespace gipam::ip
