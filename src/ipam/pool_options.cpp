#include "ipam/pool_options.h"

#include <charconv>

#include "ipam/service.h"

namespace gipam::ipam {
namespace {

int parseBlockLength(const std::string& key, const std::string& value, ip::Family family) {
    int length = -1;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (error != std::errc() || end != value.data() + value.size() || length < 1 || length > maxBlockLength(family)) {
        throw IpamError("option " + key + "=" + value + " is not a block length; use 1-" +
                        std::to_string(maxBlockLength(family)));
    }
    return length;
}

}  // namespace

void checkOptionLimits(const std::map<std::string, std::string>& options) {
    if (options.size() > kMaxOptions) {
        throw IpamError("the network has " + std::to_string(options.size()) + " IPAM options; gipam keeps at most " +
                        std::to_string(kMaxOptions) + " per pool", Refusal::Limit);
    }
    for (const auto& [key, value] : options) {
        if (key.size() > kMaxOptionKeyBytes) {
            throw IpamError("IPAM option name " + key.substr(0, 32) + "... has " + std::to_string(key.size()) +
                            " bytes; gipam keeps names of at most " + std::to_string(kMaxOptionKeyBytes), Refusal::Limit);
        }
        if (value.size() > kMaxOptionValueBytes) {
            throw IpamError("IPAM option " + key + " has a value of " + std::to_string(value.size()) +
                            " bytes; gipam keeps values of at most " + std::to_string(kMaxOptionValueBytes), Refusal::Limit);
        }
    }
}

PoolOptions PoolOptions::parse(const std::map<std::string, std::string>& options) {
    PoolOptions parsed;
    if (auto it = options.find("v4ab"); it != options.end()) {
        parsed.v4BlockLength = parseBlockLength(it->first, it->second, ip::Family::V4);
    }
    if (auto it = options.find("v6ab"); it != options.end()) {
        parsed.v6BlockLength = parseBlockLength(it->first, it->second, ip::Family::V6);
    }
    if (auto it = options.find(std::string(kSerialOption)); it != options.end()) {
        if (it->second != "true" && it->second != "false") {
            throw IpamError("option " + it->first + "=" + it->second + " must be true or false");
        }
        parsed.serial = it->second == "true";
    }
    return parsed;
}

}  // namespace gipam::ipam
