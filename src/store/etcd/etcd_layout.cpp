#include "store/etcd/etcd_layout.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

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

}  // namespace

ip::Prefix truncated(const ip::Prefix& prefix, int length) {
    const auto mask = ~ip::lowMask(ip::bitWidth(prefix.family()) - length);
    return ip::Prefix(ip::Address(prefix.family(), prefix.network().value() & mask), length);
}

std::string encodePool(PoolRecord record) {
    record.addresses.clear();
    return encodeLeases({std::nullopt, std::nullopt, {std::move(record)}});
}

std::optional<PoolRecord> decodePool(const std::string& text) {
    try {
        auto leases = decodeLeases(text);
        if (leases.pools.size() == 1) return std::move(leases.pools.front());
    } catch (const FormatError&) {
    }
    return std::nullopt;
}

BlockHolder decodeBlockValue(const std::string& text) {
    try {
        const auto object = Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
        return {object->optValue<std::string>("pool", ""), object->optValue<std::string>("node", ""),
                object->optValue<std::string>("scope", "")};
    } catch (const Poco::Exception&) {
        return {};
    }
}

Compare absent(const std::string& key) {
    return {key, Compare::Target::Create, Compare::Result::Equal, 0, {}, {}};
}

Compare present(const std::string& key) {
    return {key, Compare::Target::Create, Compare::Result::Greater, 0, {}, {}};
}

Operation put(const std::string& key, const std::string& value) {
    return {Operation::Kind::Put, key, value, {}, 0, 0};
}

Operation remove(const std::string& key, const std::string& rangeEnd) {
    return {Operation::Kind::Delete, key, {}, rangeEnd, 0, 0};
}

Operation read(const std::string& key, const std::string& rangeEnd, std::int64_t limit, std::int64_t minModRevision) {
    return {Operation::Kind::Range, key, {}, rangeEnd, limit, minModRevision};
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
        if (slash == std::string::npos) return std::nullopt;
        try {
            ip::U128 value = 0;
            for (const char digit : rest.substr(0, slash)) {
                value = value * 16 + static_cast<ip::U128>(std::stoi(std::string(1, digit), nullptr, 16));
            }
            return ip::Prefix(ip::Address(family, value), std::stoi(rest.substr(slash + 1)));
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

void deleteIfUnheld(EtcdClient& etcd, const EtcdKeys& keys, const std::string& poolId) {
    const auto poolKey = keys.pool(poolId);
    const auto stored = etcd.txn({}, {read(poolKey), read(poolKey + "/name")}).ranges;
    if (stored.size() != 2 || stored[0].empty()) return;
    const auto record = decodePool(stored[0][0].value);
    if (!record) return;
    Compare none = absent(keys.holders(poolId));
    none.rangeEnd = prefixEnd(keys.holders(poolId));
    Compare same{poolKey, Compare::Target::Mod, Compare::Result::Equal, stored[0][0].modRevision, {}, {}};
    std::vector<Operation> success{remove(poolKey), remove(keys.addresses(poolId), prefixEnd(keys.addresses(poolId))),
                                   remove(keys.block(record->pool)), remove(poolKey + "/name")};
    // The name was claimed with the pool (no other pool can take it while this one exists), so
    // it goes with it.
    if (!stored[1].empty()) success.push_back(remove(keys.name(stored[1][0].value)));
    try {
        etcd.txn({none, same}, success);
    } catch (const EtcdOutcomeUnknown&) {
        // Either way the pool is deleted or still held by someone: nothing to settle.
    }
}

}  // namespace gipam::store
