// libFuzzer target: address and prefix parsing. What parses formats canonically and parses back
// to the same value; what does not parse throws ParseError and nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ip/prefix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace gipam::ip;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto address = Address::parse(text);
        if (Address::parse(address.toString()) != address) std::abort();
    } catch (const ParseError&) {
    }
    try {
        const auto prefix = Prefix::parse(text);
        if (Prefix::parse(prefix.toString()) != prefix) std::abort();
        if (!prefix.contains(prefix.network()) || !prefix.contains(prefix.last())) std::abort();
    } catch (const ParseError&) {
    }
    return 0;
}
