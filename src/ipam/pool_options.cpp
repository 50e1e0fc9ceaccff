#include "ipam/pool_options.h"

#include <charconv>

#include "ipam/service.h"
#include "store/lease_codec.h"

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

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
    if (text == "0") return std::chrono::milliseconds(0);
    if (text.empty()) return std::nullopt;
    double total = 0;
    while (!text.empty()) {
        double number = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (error != std::errc() || !(number >= 0) || end == text.data() + text.size()) return std::nullopt;  // NaN too
        text.remove_prefix(end - text.data());
        double unit = 0;
        for (const auto& [name, ms] : {std::pair{"ms", 1.0}, {"h", 3600e3}, {"m", 60e3}, {"s", 1e3}}) {
            if (text.substr(0, std::string_view(name).size()) == name) {
                unit = ms;
                text.remove_prefix(std::string_view(name).size());
                break;
            }
        }
        if (unit == 0) return std::nullopt;
        total += number * unit;
        if (total > 1e15) return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<long long>(total + 0.5));
}

std::vector<store::AddressRun> parseExclusions(std::string_view text, const std::string& what) {
    std::vector<store::AddressRun> ranges;
    while (!text.empty()) {
        const auto comma = text.find(',');
        std::string item(text.substr(0, comma));
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item.empty()) continue;
        try {
            ranges.push_back(store::parseExclusion(item));
        } catch (const ip::ParseError& error) {
            throw IpamError(what + ": " + error.what() + " (want PREFIX, ADDRESS or FIRST-LAST)");
        }
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    return ranges;
}

std::string exclusionOf(const ip::Address& address, const std::vector<store::AddressRun>& excluded,
                        const std::map<std::string, std::string>& options) {
    for (const auto& run : excluded) {
        if (run.first.family() == address.family() && !(address < run.first) && !(run.last < address)) {
            return "--exclude " + store::exclusionText(run);
        }
    }
    const auto it = options.find(std::string(kExcludeOption));
    return std::string(kExcludeOption) + "=" + (it == options.end() ? std::string() : it->second);
}

void applyExclusions(const PoolOptions& options, alloc::AddressAllocator& addresses) {
    const auto& pool = addresses.pool();
    for (const auto& range : options.exclude) {
        if (range.first.family() != pool.family()) continue;  // the other pool of a dual-stack network
        if (!pool.contains(range.first) || !pool.contains(range.last)) {
            throw IpamError("option " + std::string(kExcludeOption) + ": " + range.first.toString() + "-" +
                            range.last.toString() + " is not inside subnet " + pool.toString());
        }
        addresses.exclude(range.first, range.last);
    }
}

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
    if (auto it = options.find(std::string(kReuseDelayOption)); it != options.end()) {
        parsed.reuseDelay = parseDuration(it->second);
        if (!parsed.reuseDelay || *parsed.reuseDelay > kMaxReuseDelay) {
            throw IpamError("option " + it->first + "=" + it->second +
                            " is not a reuse delay; give a duration from 0 to 24h, such as 30s, 5m or 1h");
        }
    }
    if (auto it = options.find(std::string(kExcludeOption)); it != options.end()) {
        parsed.exclude = parseExclusions(it->second, "option " + std::string(kExcludeOption));
    }
    return parsed;
}

}  // namespace gipam::ipam
