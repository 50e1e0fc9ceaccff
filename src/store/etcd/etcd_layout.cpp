#include "store/etcd/etcd_layout.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cstdio>
#include <random>

#include "json/json_string.h"
#include "store/lease_codec.h"

namespace gipam::store {
namespace {

std::string hexOf(const ip::Address& address) {
    const int digits = address.family() == ip::Family::V4 ? 8 : 32;
    std::string text(static_cast<std::size_t>(digits), '0');
    ip::U128 value = address.value();
    for (int i = digits - 1; i >= 0; --i, value >>= 4) text[static_cast<std::size_t>(i)] = "0123456789abcdef"[value & 0xf];
    return text;
}

// The JSON object a value holds; nullptr for anything else.
Poco::JSON::Object::Ptr objectOf(const std::string& text) {
    if (text.empty() || text.front() != '{') return nullptr;
    try {
        return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception&) {
        return nullptr;
    }
}

std::string field(const Poco::JSON::Object::Ptr& object, const std::string& name) {
    try {
        return object->optValue<std::string>(name, "");
    } catch (const Poco::Exception&) {
        return {};
    }
}

long long number(const Poco::JSON::Object::Ptr& object, const std::string& name) {
    try {
        return object->optValue<long long>(name, 0);
    } catch (const Poco::Exception&) {
        return 0;
    }
}

// {"a":"x","b":"y"} from name/value pairs, values quoted; empty values left out.
std::string objectText(std::initializer_list<std::pair<const char*, std::string>> fields) {
    std::string out = "{";
    for (const auto& [name, value] : fields) {
        if (value.empty()) continue;
        if (out.size() > 1) out += ',';
        out += json::quote(name) + ':' + json::quote(value);
    }
    return out + "}";
}

}  // namespace

std::string newNonce() {
    thread_local std::mt19937_64 random(std::random_device{}());
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random()));
    return text;
}

ip::Prefix truncated(const ip::Prefix& prefix, int length) {
    const auto mask = ~ip::lowMask(ip::bitWidth(prefix.family()) - length);
    return ip::Prefix(ip::Address(prefix.family(), prefix.network().value() & mask), length);
}

std::string encodePool(PoolRecord record) {
    record.addresses.clear();
    return encodeLeases({std::nullopt, std::nullopt, {std::move(record)}, std::nullopt});
}

std::optional<PoolRecord> decodePool(const std::string& text) {
    try {
        auto leases = decodeLeases(text);
        if (leases.pools.size() == 1) return std::move(leases.pools.front());
    } catch (const FormatError&) {
    }
    return std::nullopt;
}

std::string encodeBlockClaim(const BlockClaim& claim) {
    return objectText({{"pool", claim.pool},
                       {"node", claim.node},
                       {"scope", claim.scope == Scope::Node ? "node" : "cluster"},
                       {"claim", claim.claim}});
}

std::optional<BlockClaim> decodeBlockClaim(const std::string& text) {
    const auto object = objectOf(text);
    if (!object) return std::nullopt;
    BlockClaim claim{field(object, "pool"), field(object, "node"), Scope::Node, field(object, "claim")};
    const auto scope = field(object, "scope");
    // gipam 0.1 wrote "host" for what is now "node".
    if (scope == "cluster") claim.scope = Scope::Cluster;
    else if (scope != "node" && scope != "host") return std::nullopt;
    if (claim.pool.empty() || claim.node.empty()) return std::nullopt;
    return claim;
}

std::string encodeAddressHold(const AddressHold& hold) {
    return objectText({{"holder", hold.holder},
                       {"node", hold.node},
                       {"use", hold.use == AddressUse::Endpoint ? "endpoint" : "shared"},
                       {"handle", hold.handle},
                       {"endpoint", hold.endpoint}});
}

std::optional<AddressHold> decodeAddressHold(const std::string& text) {
    if (const auto object = objectOf(text)) {
        AddressHold hold{field(object, "holder"), field(object, "node"), AddressUse::Endpoint, field(object, "handle"),
                         field(object, "endpoint")};
        const auto use = field(object, "use");
        if (use == "shared") hold.use = AddressUse::Shared;
        else if (use != "endpoint") return std::nullopt;
        if (hold.holder.empty()) return std::nullopt;
        return hold;
    }
    // gipam 0.1: "<node>", or "<node> once" for an address held once (now Shared).
    if (text.empty() || text.find('{') != std::string::npos) return std::nullopt;
    const auto space = text.find(' ');
    if (space == std::string::npos) return AddressHold{text, text, AddressUse::Endpoint, {}, {}};
    if (text.substr(space) != " once") return std::nullopt;
    const auto node = text.substr(0, space);
    return AddressHold{node, node, AddressUse::Shared, {}, {}};
}

std::string encodeAddressCooling(const AddressCooling& cooling) {
    return objectText({{"cooling until", formatTime(cooling.until)}, {"node", cooling.node}});
}

std::optional<AddressCooling> decodeAddressCooling(const std::string& text) {
    const auto object = objectOf(text);
    if (!object) return std::nullopt;
    const auto until = parseTime(field(object, "cooling until"));
    if (!until) return std::nullopt;
    return AddressCooling{field(object, "node"), *until};
}

std::string encodePoolCopy(const PoolCopy& copy) {
    return objectText({{"copy", copy.copy}, {"claim", copy.claim}});
}

std::optional<PoolCopy> decodePoolCopy(const std::string& text) {
    const auto object = objectOf(text);
    if (!object) return std::nullopt;
    PoolCopy copy{field(object, "copy"), field(object, "claim")};
    if (copy.copy.empty()) return std::nullopt;
    return copy;
}

std::string encodeNodeRecord(const NodeRecord& record) {
    return objectText({{"instance", record.instance}});
}

std::optional<NodeRecord> decodeNodeRecord(const std::string& text) {
    const auto object = objectOf(text);
    if (!object || field(object, "instance").empty()) return std::nullopt;
    return NodeRecord{field(object, "instance")};
}

std::string encodeNodeAlive(const NodeAlive& alive) {
    auto text = objectText({{"instance", alive.instance},
                            {"incarnation", alive.incarnation},
                            {"hostname", alive.hostname},
                            {"boot", alive.boot},
                            {"since", alive.since}});
    text.pop_back();
    return text + ",\"pid\":" + std::to_string(alive.pid) + ",\"started\":" + std::to_string(alive.started) + "}";
}

std::optional<NodeAlive> decodeNodeAlive(const std::string& text) {
    const auto object = objectOf(text);
    if (!object || field(object, "instance").empty()) return std::nullopt;
    return NodeAlive{field(object, "instance"), field(object, "incarnation"), field(object, "hostname"),
                     field(object, "boot"),     number(object, "pid"),         number(object, "started"),
                     field(object, "since")};
}

Compare absent(const std::string& key) {
    return {key, Compare::Target::Create, Compare::Result::Equal, 0, {}, {}};
}

Compare present(const std::string& key) {
    return {key, Compare::Target::Create, Compare::Result::Greater, 0, {}, {}};
}

Compare holds(const std::string& key, const std::string& value) {
    return {key, Compare::Target::Value, Compare::Result::Equal, 0, value, {}};
}

Compare unchangedSince(const std::string& key, std::int64_t revision) {
    return {key, Compare::Target::Mod, Compare::Result::Equal, revision, {}, {}};
}

Operation put(const std::string& key, const std::string& value, std::int64_t lease) {
    return {Operation::Kind::Put, key, value, {}, 0, lease};
}

Operation remove(const std::string& key, const std::string& rangeEnd) {
    return {Operation::Kind::Delete, key, {}, rangeEnd};
}

Operation read(const std::string& key, const std::string& rangeEnd, std::int64_t limit) {
    return {Operation::Kind::Range, key, {}, rangeEnd, limit};
}

std::string EtcdKeys::blocks(ip::Family family) const {
    return prefix + "/blocks/" + (family == ip::Family::V4 ? "4/" : "6/");
}

std::string EtcdKeys::block(const ip::Prefix& block) const {
    return blocks(block.family()) + hexOf(block.network()) + "/" + std::to_string(block.length());
}

std::string EtcdKeys::blocksAt(const ip::Address& network) const {
    return blocks(network.family()) + hexOf(network) + "/";
}

std::string EtcdKeys::address(const std::string& poolId, const ip::Address& address) const {
    return addresses(poolId) + address.toString();
}

std::optional<ip::Prefix> EtcdKeys::blockOf(const std::string& key) const {
    for (const auto family : {ip::Family::V4, ip::Family::V6}) {
        const auto start = blocks(family);
        if (key.compare(0, start.size(), start) != 0) continue;
        const auto rest = key.substr(start.size());
        const auto slash = rest.find('/');
        const std::size_t digits = family == ip::Family::V4 ? 8 : 32;
        if (slash != digits) return std::nullopt;
        ip::U128 value = 0;
        for (const char digit : rest.substr(0, slash)) {
            const auto nibble = digit >= '0' && digit <= '9'   ? digit - '0'
                                : digit >= 'a' && digit <= 'f' ? digit - 'a' + 10
                                                               : -1;
            if (nibble < 0) return std::nullopt;
            value = value * 16 + static_cast<ip::U128>(nibble);
        }
        const auto length = rest.substr(slash + 1);
        if (length.empty() || length.size() > 3 || length.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        const int bits = std::stoi(length);
        if (bits > ip::bitWidth(family)) return std::nullopt;
        if (value & ip::lowMask(ip::bitWidth(family) - bits)) return std::nullopt;  // host bits: not a key of ours
        return ip::Prefix(ip::Address(family, value), bits);
    }
    return std::nullopt;
}

std::optional<ip::Address> EtcdKeys::addressOf(const std::string& poolId, const std::string& key) const {
    const auto start = addresses(poolId);
    if (key.compare(0, start.size(), start) != 0) return std::nullopt;
    try {
        return ip::Address::parse(key.substr(start.size()));
    } catch (const ip::ParseError&) {
        return std::nullopt;
    }
}

EtcdKeys::PoolKey EtcdKeys::poolKeyOf(const std::string& key) const {
    const auto start = pools();
    if (key.compare(0, start.size(), start) != 0) return {};
    // Pool IDs hold slashes ("gipam-local/198.18.0.0/24"), so the kind is found from the end.
    for (const auto& [marker, kind] : {std::pair{"/holders/", PoolKey::Kind::Holder},
                                       std::pair{"/copies/", PoolKey::Kind::Copy},
                                       std::pair{"/addresses/", PoolKey::Kind::Address}}) {
        const auto at = key.rfind(marker);
        if (at == std::string::npos || at < start.size()) continue;
        const auto last = key.substr(at + std::char_traits<char>::length(marker));
        if (last.empty() || last.find('/') != std::string::npos) continue;
        return {kind, key.substr(start.size(), at - start.size()), last};
    }
    return {};
}

}  // namespace gipam::store
