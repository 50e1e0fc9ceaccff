#include "store/lease_codec.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Exception.h>
#include <Poco/Timestamp.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <sstream>

#include "json/json_string.h"

namespace gipam::store {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr int kFormat = 1;

// --- encoding -------------------------------------------------------------

void appendSupernet(std::string& out, std::string_view name, const std::optional<Supernet>& supernet) {
    out += "  \"";
    out += name;
    out += "\": ";
    json::appendString(out, supernet ? supernet->prefix.toString() : "");
    out += ",\n  \"";
    out += name;
    out += "ab\": ";
    out += supernet ? std::to_string(supernet->blockLength) : "0";
    out += ",\n";
}

void appendPool(std::string& out, const PoolRecord& pool) {
    out += "    {\"id\": ";
    json::appendString(out, pool.id);
    out += ", \"pool\": ";
    json::appendString(out, pool.prefix.toString());
    if (pool.subPool) {
        out += ", \"subPool\": ";
        json::appendString(out, pool.subPool->toString());
    }
    if (!pool.options.empty()) {
        out += ", \"options\": {";
        const char* separator = "";
        for (const auto& [key, value] : pool.options) {
            out += separator;
            json::appendString(out, key);
            out += ": ";
            json::appendString(out, value);
            separator = ", ";
        }
        out += "}";
    }
    if (pool.cursor) {
        out += ", \"next\": ";
        json::appendString(out, pool.cursor->toString());
    }
    if (!pool.copyOf.empty()) {
        out += ", \"copyOf\": ";
        json::appendString(out, pool.copyOf);
    }
    if (!pool.cooling.empty()) {
        out += ",\n     \"cooling\": {";
        const char* separator = "";
        for (const auto& cooling : pool.cooling) {
            out += separator;
            json::appendString(out, cooling.address.toString());
            out += ": ";
            json::appendString(out, formatTime(cooling.until));
            separator = ", ";
        }
        out += "}";
    }
    out += ",\n     \"addresses\": [";
    const char* separator = "";
    for (const auto& run : pool.addresses) {
        out += separator;
        out.push_back('"');
        run.first.appendTo(out);
        if (run.last != run.first) {
            out.push_back('-');
            run.last.appendTo(out);
        }
        out.push_back('"');
        separator = ", ";
    }
    out += "]}";
}

// --- decoding -------------------------------------------------------------


[[noreturn]] void fail(const std::string& where, const std::string& problem) {
    throw FormatError(where + ": " + problem);
}

Poco::Dynamic::Var member(const Object& object, const std::string& key) {
    return object.has(key) ? object.get(key) : Poco::Dynamic::Var();
}

std::string stringField(const Object& object, const std::string& key, const std::string& where, bool required) {
    const auto value = member(object, key);
    if (value.isEmpty()) {
        if (required) fail(where, "\"" + key + "\" is missing");
        return {};
    }
    if (!value.isString()) fail(where + "." + key, "expected a string");
    return value.extract<std::string>();
}

int intField(const Object& object, const std::string& key, const std::string& where) {
    const auto value = member(object, key);
    if (value.isEmpty()) return 0;
    if (!value.isInteger()) fail(where + "." + key, "expected a whole number");
    const auto number = value.convert<long long>();
    if (number < 0 || number > 128)
        fail(where + "." + key, "expected a prefix length (0-128), got " + std::to_string(number));
    return static_cast<int>(number);
}

Array::Ptr arrayField(const Object& object, const std::string& key, const std::string& where) {
    const auto value = member(object, key);
    if (value.isEmpty()) return {};
    if (value.type() != typeid(Array::Ptr)) fail(where + "." + key, "expected an array");
    return value.extract<Array::Ptr>();
}

template <typename Parsed, typename Parse>
Parsed parseValue(const std::string& text, const std::string& where, Parse parse) {
    try {
        return parse(text);
    } catch (const ip::ParseError& error) {
        fail(where, error.what());
    }
}

std::optional<Supernet> decodeSupernet(const Object& root, const std::string& name) {
    const std::string text = stringField(root, name, "lease file", false);
    if (text.empty()) return std::nullopt;
    const auto prefix = parseValue<ip::Prefix>(text, name, ip::Prefix::parse);
    const int blockLength = intField(root, name + "ab", "lease file");
    const ip::Family family = name == "v4" ? ip::Family::V4 : ip::Family::V6;
    if (prefix.family() != family) fail(name, text + " is not an " + std::string(ip::familyName(family)) + " prefix");
    if (blockLength <= prefix.length() || blockLength > ip::bitWidth(family)) {
        fail(name + "ab", std::to_string(blockLength) + " is not a block length inside " + text);
    }
    return Supernet{prefix, blockLength};
}

ip::Address parseAddress(const std::string& text, const std::string& where) {
    return parseValue<ip::Address>(text, where, ip::Address::parse);
}


void checkPoolAddress(const PoolRecord& pool, const ip::Address& address, const std::string& where) {
    if (!pool.prefix.contains(address)) fail(where, address.toString() + " is outside pool " + pool.prefix.toString());
}

// A cooling address that is also held: the holding (a grant by value) came after.
void checkCoolingIsFree(const PoolRecord& pool, const std::string& where) {
    auto run = pool.addresses.begin();
    for (const auto& cooling : pool.cooling) {
        while (run != pool.addresses.end() && run->last < cooling.address) ++run;
        if (run != pool.addresses.end() && !(cooling.address < run->first)) {
            fail(where + ".cooling." + cooling.address.toString(), "the address is also held");
        }
    }
}

PoolRecord poolFromObject(const Object& object, const std::string& where) {
    PoolRecord pool{
        stringField(object, "id", where, true),
        parseValue<ip::Prefix>(stringField(object, "pool", where, true), where + ".pool", ip::Prefix::parse),
        {},
        {},
        {},
        {}};
    if (pool.id.empty()) fail(where + ".id", "must not be empty");
    if (const auto subPool = stringField(object, "subPool", where, false); !subPool.empty()) {
        pool.subPool = parseValue<ip::Prefix>(subPool, where + ".subPool", ip::Prefix::parse);
        if (!pool.prefix.contains(*pool.subPool))
            fail(where + ".subPool", subPool + " is outside pool " + pool.prefix.toString());
    }
    if (const auto options = member(object, "options"); !options.isEmpty()) {
        if (options.type() != typeid(Object::Ptr)) fail(where + ".options", "expected an object");
        for (const auto& [key, value] : *options.extract<Object::Ptr>()) {
            if (!value.isString()) fail(where + ".options." + key, "expected a string");
            pool.options.emplace(key, value.extract<std::string>());
        }
    }
    if (const auto next = stringField(object, "next", where, false); !next.empty()) {
        pool.cursor = parseAddress(next, where + ".next");
        checkPoolAddress(pool, *pool.cursor, where + ".next");
    }
    pool.copyOf = stringField(object, "copyOf", where, false);
    if (const auto cooling = member(object, "cooling"); !cooling.isEmpty()) {
        if (cooling.type() != typeid(Object::Ptr)) fail(where + ".cooling", "expected an object");
        for (const auto& [text, until] : *cooling.extract<Object::Ptr>()) {
            const std::string at = where + ".cooling." + text;
            const auto address = parseAddress(text, at);
            checkPoolAddress(pool, address, at);
            const auto time = until.isString() ? parseTime(until.extract<std::string>()) : std::nullopt;
            if (!time) fail(at, "expected a UTC time such as \"2026-12-07T14:05:00.123Z\"");
            pool.cooling.push_back({address, *time});
        }
        std::sort(pool.cooling.begin(), pool.cooling.end());
    }
    if (const auto addresses = arrayField(object, "addresses", where)) {
        for (std::size_t i = 0; i < addresses->size(); ++i) {
            const std::string at = where + ".addresses[" + std::to_string(i) + "]";
            const auto value = addresses->get(static_cast<unsigned>(i));
            if (!value.isString()) fail(at, "expected an address or a range first-last");
            const auto text = value.extract<std::string>();
            const auto dash = text.find('-');
            AddressRun run{parseAddress(text.substr(0, dash), at), {}};
            run.last = dash == std::string::npos ? run.first : parseAddress(text.substr(dash + 1), at);
            checkPoolAddress(pool, run.first, at);
            checkPoolAddress(pool, run.last, at);
            if (run.last < run.first) fail(at, "range " + text + " ends before it starts");
            if (!pool.addresses.empty() && run.first.value() <= pool.addresses.back().last.value()) {
                fail(at, text + " is not after the previous entry; entries must be ascending and disjoint");
            }
            // Hand-written files may list neighbours separately; keep runs maximal.
            if (!pool.addresses.empty() && run.first.value() == pool.addresses.back().last.value() + 1) {
                pool.addresses.back().last = run.last;
            } else {
                pool.addresses.push_back(run);
            }
        }
    }
    checkCoolingIsFree(pool, where);
    return pool;
}

Leases decodeGipam(const Object& root) {
    const auto format = member(root, "format");
    if (!format.isInteger()) fail("format", "expected the whole number " + std::to_string(kFormat));
    if (format.convert<long long>() != kFormat) {
        fail("format", "unsupported lease file format " + format.toString() + " (this gipam reads " +
                           std::to_string(kFormat) + ")");
    }
    Leases leases{decodeSupernet(root, "v4"), decodeSupernet(root, "v6"), {}, {}};
    if (const auto node = member(root, "node"); !node.isEmpty()) {
        if (node.type() != typeid(Object::Ptr)) fail("node", "expected an object");
        const auto& object = *node.extract<Object::Ptr>();
        leases.node = NodeIdentity{stringField(object, "id", "node", true), stringField(object, "instance", "node", true)};
        if (leases.node->id.empty() || leases.node->instance.empty()) fail("node", "id and instance must not be empty");
    }
    if (const auto excluded = arrayField(root, "exclude", "lease file")) {
        for (std::size_t i = 0; i < excluded->size(); ++i) {
            const std::string at = "exclude[" + std::to_string(i) + "]";
            const auto value = excluded->get(static_cast<unsigned>(i));
            if (!value.isString()) fail(at, "expected a prefix, an address or a range first-last");
            leases.excluded.push_back(parseValue<AddressRun>(value.extract<std::string>(), at, parseExclusion));
        }
    }
    if (const auto pools = arrayField(root, "pools", "lease file")) {
        for (std::size_t i = 0; i < pools->size(); ++i) {
            const std::string where = "pools[" + std::to_string(i) + "]";
            const auto object = pools->getObject(static_cast<unsigned>(i));
            if (!object) fail(where, "expected an object");
            leases.pools.push_back(poolFromObject(*object, where));
        }
    }
    return leases;
}

// The Go gipam's file: {v6,v6ab,v6idx,v4,v4ab,v4idx,allocated[{id,v,pool,idx,allocated[],free[]}],free[]}.
// Released blocks ("free") and released addresses need no record: they are simply free here.
Leases decodeGoGipam(const Object& root) {
    Leases leases{decodeSupernet(root, "v4"), decodeSupernet(root, "v6"), {}};
    if (const auto allocated = arrayField(root, "allocated", "lease file")) {
        for (std::size_t i = 0; i < allocated->size(); ++i) {
            const std::string where = "allocated[" + std::to_string(i) + "]";
            const auto object = allocated->getObject(static_cast<unsigned>(i));
            if (!object) fail(where, "expected an object");
            PoolRecord pool{
                stringField(*object, "id", where, true),
                parseValue<ip::Prefix>(stringField(*object, "pool", where, true), where + ".pool", ip::Prefix::parse),
                {},
                {},
                {},
                {}};
            std::vector<ip::Address> addresses;
            if (const auto held = arrayField(*object, "allocated", where)) {
                for (std::size_t j = 0; j < held->size(); ++j) {
                    const std::string at = where + ".allocated[" + std::to_string(j) + "]";
                    const auto value = held->get(static_cast<unsigned>(j));
                    if (!value.isString()) fail(at, "expected an address");
                    // The Go gipam sometimes kept "address/length".
                    const auto text = value.extract<std::string>();
                    addresses.push_back(parseAddress(text.substr(0, text.find('/')), at));
                    checkPoolAddress(pool, addresses.back(), at);
                }
            }
            pool.addresses = toRuns(std::move(addresses));
            leases.pools.push_back(std::move(pool));
        }
    }
    return leases;
}

// Line and column (both from 1) of the byte at `offset`.
std::string positionOf(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const auto before = text.substr(0, offset);
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    const auto lineStart = before.rfind('\n');
    const auto column = 1 + (lineStart == std::string_view::npos ? offset : offset - lineStart - 1);
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

std::string exclusionText(const AddressRun& run) {
    if (run.first == run.last) return run.first.toString();
    const auto prefixes = ip::prefixesCovering(run.first, run.last);
    if (prefixes.size() == 1) return prefixes[0].toString();
    return run.first.toString() + "-" + run.last.toString();
}

AddressRun parseExclusion(std::string_view text) {
    if (text.find('/') != std::string_view::npos) {
        const auto prefix = ip::Prefix::parse(text);
        return {prefix.network(), prefix.last()};
    }
    const auto dash = text.find('-');
    const auto first = ip::Address::parse(text.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : ip::Address::parse(text.substr(dash + 1));
    if (first.family() != last.family() || last < first) {
        throw ip::ParseError("'" + std::string(text) + "' is not FIRST-LAST of one family with FIRST <= LAST");
    }
    return {first, last};
}

std::string formatTime(std::chrono::system_clock::time_point time) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const Poco::Timestamp stamp(static_cast<Poco::Timestamp::TimeVal>(ms) * 1000);
    return Poco::DateTimeFormatter::format(stamp, "%Y-%m-%dT%H:%M:%S.%iZ");
}

std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text) {
    Poco::DateTime parsed;
    int zone = 0;
    if (text.size() != 24 || !Poco::DateTimeParser::tryParse("%Y-%m-%dT%H:%M:%S.%iZ", text, parsed, zone) || zone) {
        return std::nullopt;
    }
    return std::chrono::system_clock::time_point(std::chrono::microseconds(parsed.timestamp().epochMicroseconds()));
}

std::vector<AddressRun> toRuns(std::vector<ip::Address> addresses) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    std::vector<AddressRun> runs;
    for (const auto& address : addresses) {
        if (!runs.empty() && runs.back().last.value() + 1 == address.value()) {
            runs.back().last = address;
        } else {
            runs.push_back({address, address});
        }
    }
    return runs;
}

std::string encodeLeases(const Leases& leases) {
    // One allocation up front: growing a multi-megabyte string by doubling costs more than the
    // formatting itself. 96 bytes covers a run of two IPv6 addresses with its punctuation.
    std::size_t estimate = 512;
    for (const auto& pool : leases.pools) estimate += 512 + 96 * pool.addresses.size();
    std::string out;
    out.reserve(estimate);
    out += "{\n  \"format\": " + std::to_string(kFormat) + ",\n";
    appendSupernet(out, "v4", leases.v4);
    appendSupernet(out, "v6", leases.v6);
    if (leases.node) {
        out += "  \"node\": {\"id\": ";
        json::appendString(out, leases.node->id);
        out += ", \"instance\": ";
        json::appendString(out, leases.node->instance);
        out += "},\n";
    }
    if (!leases.excluded.empty()) {
        out += "  \"exclude\": [";
        const char* comma = "";
        for (const auto& run : leases.excluded) {
            out += comma;
            json::appendString(out, exclusionText(run));
            comma = ", ";
        }
        out += "],\n";
    }
    out += "  \"pools\": [";
    const char* separator = "\n";
    for (const auto& pool : leases.pools) {
        out += separator;
        appendPool(out, pool);
        separator = ",\n";
    }
    out += leases.pools.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return out;
}

Leases decodeLeases(std::string_view text) {
    // Parsing from a stream lets us report where the parser stopped.
    std::istringstream in{std::string(text)};
    Poco::Dynamic::Var parsed;
    try {
        parsed = Poco::JSON::Parser().parse(in);
    } catch (const Poco::Exception& error) {
        in.clear();
        // The parser stops just after the byte it could not take.
        const auto consumed = in.tellg() < 0 ? text.size() : static_cast<std::size_t>(in.tellg());
        const auto offset = consumed > 0 ? consumed - 1 : 0;
        throw FormatError("invalid JSON at " + positionOf(text, offset) + ": " + error.message());
    }
    if (parsed.type() != typeid(Object::Ptr)) throw FormatError("expected a JSON object at the top level");
    const auto root = parsed.extract<Object::Ptr>();
    try {
        if (!root->has("format") && (root->has("allocated") || root->has("v4idx") || root->has("v6idx"))) {
            return decodeGoGipam(*root);
        }
        if (!root->has("format")) fail("lease file", "\"format\" is missing; this is not a gipam lease file");
        return decodeGipam(*root);
    } catch (const Poco::Exception& error) {
        throw FormatError(error.message());
    }
}

}  // namespace gipam::store
