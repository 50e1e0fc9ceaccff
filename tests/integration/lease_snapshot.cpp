#include "integration/lease_snapshot.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

#include "support/gipam_process.h"

namespace gipam::testing {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

// Runs larger than this are reported instead of expanded: the tests hold few addresses.
constexpr U128 kMaxRunToExpand = 1 << 16;

U128 lowMask(int bits) {
    return bits >= 128 ? ~U128{0} : (U128{1} << bits) - 1;
}

std::string stringMember(const Object& object, const std::string& key) {
    if (!object.has(key) || !object.get(key).isString()) return {};
    return object.getValue<std::string>(key);
}

// Parses one pool record into `snapshot`, recording problems; `everywhere` holds every
// address seen in any pool.
void readPool(const Object& record, LeaseSnapshot& snapshot, std::set<Ip>& everywhere) {
    const auto id = stringMember(record, "id");
    const auto where = "pool '" + id + "': ";
    auto& problems = snapshot.problems;
    if (id.empty()) problems.push_back("a pool has no id");
    if (snapshot.pools.count(id)) problems.push_back(where + "the ID appears twice");
    const auto pool = Cidr::parse(stringMember(record, "pool"));
    if (!pool) {
        problems.push_back(where + "pool '" + stringMember(record, "pool") + "' is not a prefix");
        return;
    }
    if (record.has("subPool")) {
        const auto subPool = Cidr::parse(stringMember(record, "subPool"));
        if (!subPool || !pool->contains(*subPool)) problems.push_back(where + "subPool is not inside the pool");
    }
    PoolLease lease{*pool, {}};
    const auto addresses = record.getArray("addresses");
    if (!addresses) problems.push_back(where + "has no addresses array");
    std::optional<Ip> previousLast;
    for (std::size_t i = 0; addresses && i < addresses->size(); ++i) {
        const auto text = addresses->get(i).isString() ? addresses->get(i).extract<std::string>() : "";
        const auto dash = text.find('-');
        const auto first = Ip::parse(text.substr(0, dash));
        const auto last = dash == std::string::npos ? first : Ip::parse(text.substr(dash + 1));
        if (!first || !last || !pool->contains(*first) || !pool->contains(*last) || last->value < first->value) {
            problems.push_back(where + "address entry '" + text + "' is not a run inside " + pool->toString());
            continue;
        }
        if (previousLast && first->value <= previousLast->value) {
            problems.push_back(where + "address entry '" + text + "' is not above the previous one");
        }
        previousLast = last;
        if (last->value - first->value >= kMaxRunToExpand) {
            problems.push_back(where + "run '" + text + "' is too long for this test to check");
            continue;
        }
        for (U128 value = first->value;; ++value) {
            const Ip address{pool->network.v6, value};
            if (!lease.addresses.insert(address).second || !everywhere.insert(address).second) {
                problems.push_back(where + "address " + address.toString() + " is held twice");
            }
            if (value == last->value) break;
        }
    }
    // The network address, and for IPv4 the broadcast address, are never handed out.
    if (lease.addresses.count(pool->network)) problems.push_back(where + "holds its network address");
    if (!pool->network.v6 && pool->length < 31 && lease.addresses.count(pool->at(pool->hostMask()))) {
        problems.push_back(where + "holds its broadcast address");
    }
    for (const auto& [otherId, other] : snapshot.pools) {
        if (other.pool.overlaps(*pool)) {
            problems.push_back(where + pool->toString() + " overlaps " + other.pool.toString() + " of " + otherId);
        }
    }
    snapshot.pools.emplace(id, std::move(lease));
}

}  // namespace

std::optional<Ip> Ip::parse(const std::string& text) {
    unsigned char bytes[16];
    if (text.find('\0') != std::string::npos) return std::nullopt;
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        return Ip{false, (U128{bytes[0]} << 24) | (U128{bytes[1]} << 16) | (U128{bytes[2]} << 8) | bytes[3]};
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) return std::nullopt;
    Ip ip{true, 0};
    for (const auto byte : bytes) ip.value = (ip.value << 8) | byte;
    return ip;
}

std::string Ip::toString() const {
    unsigned char bytes[16];
    const int width = v6 ? 16 : 4;
    for (int i = 0; i < width; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * (width - 1 - i)));
    char text[INET6_ADDRSTRLEN];
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text);
    return text;
}

std::optional<Cidr> Cidr::parse(const std::string& text) {
    const auto slash = text.find('/');
    if (slash == std::string::npos) return std::nullopt;
    const auto network = Ip::parse(text.substr(0, slash));
    int length = -1;
    const char* begin = text.data() + slash + 1;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(begin, end, length);
    if (!network || begin == end || error != std::errc() || stop != end) return std::nullopt;
    const Cidr cidr{*network, length};
    if (length < 0 || length > cidr.width() || (network->value & cidr.hostMask()) != 0) return std::nullopt;
    return cidr;
}

Cidr Cidr::of(const std::string& text) {
    if (auto cidr = parse(text)) return *cidr;
    throw std::invalid_argument("not a prefix: " + text);
}

U128 Cidr::hostMask() const {
    return lowMask(width() - length);
}

bool Cidr::contains(const Ip& ip) const {
    return ip.v6 == network.v6 && (ip.value & ~hostMask()) == network.value;
}

std::size_t LeaseSnapshot::addressCount() const {
    std::size_t count = 0;
    for (const auto& [id, pool] : pools) count += pool.addresses.size();
    return count;
}

std::string LeaseSnapshot::describeProblems() const {
    std::string text;
    for (const auto& problem : problems) text += "\n  " + problem;
    return text;
}

LeaseSnapshot parseLeaseSnapshot(const std::string& text) {
    LeaseSnapshot snapshot;
    Object::Ptr root;
    try {
        const auto parsed = Poco::JSON::Parser().parse(text);
        if (parsed.type() == typeid(Object::Ptr)) root = parsed.extract<Object::Ptr>();
    } catch (const Poco::Exception& error) {
        snapshot.problems.push_back("the lease file does not parse: " + error.displayText());
        return snapshot;
    }
    if (!root) {
        snapshot.problems.push_back("the lease file is not a JSON object");
        return snapshot;
    }
    if (!root->has("format") || root->get("format").toString() != "1") {
        snapshot.problems.push_back("the lease file has no \"format\": 1");
    }
    const auto pools = root->getArray("pools");
    if (!pools) {
        snapshot.problems.push_back("the lease file has no pools array");
        return snapshot;
    }
    std::set<Ip> everywhere;
    for (std::size_t i = 0; i < pools->size(); ++i) {
        const auto record = pools->getObject(static_cast<unsigned>(i));
        if (!record) {
            snapshot.problems.push_back("pools[" + std::to_string(i) + "] is not an object");
            continue;
        }
        readPool(*record, snapshot, everywhere);
    }
    return snapshot;
}

LeaseSnapshot readLeaseSnapshot(const std::filesystem::path& file) {
    if (!std::filesystem::is_regular_file(file)) {
        LeaseSnapshot missing;
        missing.problems.push_back("the lease file " + file.string() + " does not exist");
        return missing;
    }
    return parseLeaseSnapshot(readFile(file));
}

}  // namespace gipam::testing
