#include "ip/prefix.h"

#include <charconv>

namespace gipam::ip {

Prefix::Prefix(Address network, int length) : network_(network), length_(length) {
    if (length < 0 || length > bitWidth(network.family())) {
        throw ParseError("prefix length " + std::to_string(length) + " is out of range for " +
                         std::string(familyName(network.family())));
    }
    if ((network.value() & lastOffset()) != 0) {
        const Prefix canonical(Address(network.family(), network.value() & ~lastOffset()), length);
        throw ParseError(network.toString() + "/" + std::to_string(length) + " has host bits set; did you mean " +
                         canonical.toString() + "?");
    }
}

Prefix Prefix::parse(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        throw ParseError("'" + std::string(text) + "' is not a CIDR prefix (address/length)");
    }
    const Address network = Address::parse(text.substr(0, slash));
    const std::string_view lengthText = text.substr(slash + 1);
    int length = -1;
    const auto [end, error] = std::from_chars(lengthText.data(), lengthText.data() + lengthText.size(), length);
    if (error != std::errc() || end != lengthText.data() + lengthText.size() || lengthText.empty() || length < 0 ||
        length > bitWidth(network.family()) || (lengthText.size() > 1 && lengthText[0] == '0')) {
        throw ParseError("'" + std::string(text) + "' has an invalid prefix length (0-" +
                         std::to_string(bitWidth(network.family())) + " for " +
                         std::string(familyName(network.family())) + ")");
    }
    return Prefix(network, length);
}

bool Prefix::contains(const Address& address) const {
    return address.family() == family() && (address.value() & ~lastOffset()) == network_.value();
}

bool Prefix::contains(const Prefix& other) const {
    return other.length_ >= length_ && contains(other.network_);
}

bool Prefix::overlaps(const Prefix& other) const {
    return contains(other) || other.contains(*this);
}

std::string Prefix::toString() const {
    return network_.toString() + "/" + std::to_string(length_);
}

std::vector<Prefix> prefixesCovering(const Address& first, const Address& last) {
    const Family family = first.family();
    const int width = bitWidth(family);
    std::vector<Prefix> prefixes;
    U128 start = first.value();
    while (true) {
        // The widest block aligned at `start` that ends at or before `last`.
        int hostBits = 0;
        while (hostBits < width && (start & lowMask(hostBits + 1)) == 0 && start + lowMask(hostBits + 1) <= last.value() &&
               start + lowMask(hostBits + 1) >= start) {
            ++hostBits;
        }
        prefixes.emplace_back(Address(family, start), width - hostBits);
        const U128 end = start + lowMask(hostBits);
        if (end >= last.value()) break;
        start = end + 1;
    }
    return prefixes;
}

}  // namespace gipam::ip
