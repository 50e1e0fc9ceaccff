#include "ip/address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace gipam::ip {

std::string_view familyName(Family family) { return family == Family::V4 ? "IPv4" : "IPv6"; }

std::string toDecimal(U128 value) {
    std::string digits;
    do {
        digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
        value /= 10;
    } while (value != 0);
    std::reverse(digits.begin(), digits.end());
    return digits;
}

Address Address::parse(std::string_view text) {
    // inet_pton needs a terminated string; 45 characters is the longest IPv6 text.
    if (text.empty() || text.size() > 45) {
        throw ParseError("'" + std::string(text) + "' is not an IP address");
    }
    const std::string terminated(text);
    unsigned char bytes[16];
    Family family;
    int width;
    if (inet_pton(AF_INET, terminated.c_str(), bytes) == 1) {
        family = Family::V4;
        width = 4;
    } else if (inet_pton(AF_INET6, terminated.c_str(), bytes) == 1) {
        family = Family::V6;
        width = 16;
    } else {
        throw ParseError("'" + terminated + "' is not an IP address");
    }
    U128 value = 0;
    for (int i = 0; i < width; ++i) value = (value << 8) | bytes[i];
    return Address(family, value);
}

std::string Address::toString() const {
    unsigned char bytes[16];
    const int width = family_ == Family::V4 ? 4 : 16;
    U128 value = value_;
    for (int i = width - 1; i >= 0; --i) {
        bytes[i] = static_cast<unsigned char>(value & 0xff);
        value >>= 8;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family_ == Family::V4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
    return text;
}

}  // namespace gipam::ip
