// IPv4 and IPv6 addresses as one 128-bit value type, parsed and formatted only at the edges.
#pragma once

#include <compare>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gipam::ip {

using U128 = unsigned __int128;

enum class Family { V4, V6 };

/// Number of bits in an address of the family: 32 or 128.
constexpr int bitWidth(Family family) {
    return family == Family::V4 ? 32 : 128;
}

/// "IPv4" or "IPv6", for messages.
std::string_view familyName(Family family);

/// The mask of the low `bits` bits (0..128); bits == 128 gives all ones.
constexpr U128 lowMask(int bits) {
    return bits >= 128 ? ~U128{0} : (U128{1} << bits) - 1;
}

/// Decimal text of a 128-bit unsigned number.
std::string toDecimal(U128 value);

/// Thrown for text that is not a valid address or prefix; the message names the text.
class ParseError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// An IPv4 or IPv6 address. IPv4 lives in the low 32 bits. IPv4-mapped IPv6 text
/// (::ffff:198.18.0.1) stays IPv6: Docker never sends it for an IPv4 pool.
class Address {
public:
    Address() = default;
    Address(Family family, U128 value) : value_(value), family_(family) {}

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text; zone ids and prefixes are refused.
    static Address parse(std::string_view text);

    Family family() const { return family_; }
    U128 value() const { return value_; }
    /// Canonical text: dotted quad, or RFC 5952 lowercase compressed IPv6.
    std::string toString() const;
    /// Appends toString() to `out` without a temporary; the lease file writes thousands of these.
    void appendTo(std::string& out) const;

    auto operator<=>(const Address&) const = default;

private:
    U128 value_ = 0;
    Family family_ = Family::V4;
};

}  // namespace gipam::ip
