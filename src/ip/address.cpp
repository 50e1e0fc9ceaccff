#include "ip/address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace gipam::ip {

std::string_view familyName(Family family) {
    return family == Family::V4 ? "IPv4" : "IPv6";
}

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
    // inet_pton would stop at a NUL and accept the part before it.
    if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) {
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
    std::string text;
    appendTo(text);
    return text;
}

namespace {

// Writers into a caller's buffer: formatting builds the text in a stack buffer and appends it
// once, because the lease file formats every held run on every write.
char* writeDecimalOctet(char* at, unsigned value) {
    if (value >= 100) *at++ = static_cast<char>('0' + value / 100);
    if (value >= 10) *at++ = static_cast<char>('0' + value / 10 % 10);
    *at++ = static_cast<char>('0' + value % 10);
    return at;
}

char* writeV4(char* at, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        at = writeDecimalOctet(at, (value >> shift) & 0xff);
        if (shift != 0) *at++ = '.';
    }
    return at;
}

char* writeHexGroup(char* at, unsigned group) {
    static constexpr char hex[] = "0123456789abcdef";
    if (group >= 0x1000) *at++ = hex[group >> 12];
    if (group >= 0x100) *at++ = hex[(group >> 8) & 0xf];
    if (group >= 0x10) *at++ = hex[(group >> 4) & 0xf];
    *at++ = hex[group & 0xf];
    return at;
}

char* writeV6(char* at, U128 value) {
    // Two 64-bit halves: shifting a 128-bit value by a variable count costs branches per group.
    const auto high = static_cast<std::uint64_t>(value >> 64);
    const auto low = static_cast<std::uint64_t>(value);
    unsigned groups[8];
    for (int i = 0; i < 4; ++i) {
        groups[i] = static_cast<unsigned>(high >> (48 - 16 * i)) & 0xffff;
        groups[i + 4] = static_cast<unsigned>(low >> (48 - 16 * i)) & 0xffff;
    }
    // IPv4-mapped addresses keep the dotted form, as Go and inet_ntop write them.
    if (groups[0] == 0 && groups[1] == 0 && groups[2] == 0 && groups[3] == 0 && groups[4] == 0 && groups[5] == 0xffff) {
        for (const char c : std::string_view("::ffff:")) *at++ = c;
        return writeV4(at, static_cast<std::uint32_t>(value));
    }
    // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes "::".
    int bestStart = -1, bestLength = 1;
    for (int i = 0; i < 8;) {
        if (groups[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && groups[j] == 0) ++j;
        if (j - i > bestLength) {
            bestStart = i;
            bestLength = j - i;
        }
        i = j;
    }
    for (int i = 0; i < 8; ++i) {
        if (i == bestStart) {
            *at++ = ':';
            *at++ = ':';
            i += bestLength - 1;
            continue;
        }
        if (i != 0 && i != bestStart + bestLength) *at++ = ':';
        at = writeHexGroup(at, groups[i]);
    }
    return at;
}

}  // namespace

void Address::appendTo(std::string& out) const {
    char text[48];
    const char* end = family_ == Family::V4 ? writeV4(text, static_cast<std::uint32_t>(value_)) : writeV6(text, value_);
    out.append(text, static_cast<std::size_t>(end - text));
}

}  // namespace gipam::ip
