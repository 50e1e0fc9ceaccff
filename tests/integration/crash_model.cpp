#include "integration/crash_model.h"

#include <gtest/gtest.h>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

const Cidr kV4Supernet = Cidr::of("198.18.0.0/16");
const Cidr kV6Supernet = Cidr::of("2001:db8:100::/56");
constexpr std::size_t kMaxPoolsPerClient = 4;
constexpr std::size_t kMaxAddressesPerPool = 8;
constexpr int kSpecificOffsets = 30;  // specific addresses are .1 to .30 of a pool

// --subnet values outside the supernets, inside them where automatic blocks land, and some
// that overlap each other.
const char* const kStaticV4[] = {"198.19.0.0/24", "198.19.1.0/24", "198.19.2.0/24",  "198.19.0.0/23",
                                 "198.19.7.0/25", "198.18.2.0/24", "198.18.250.0/24"};
const char* const kStaticV6[] = {"2001:db8:200::/64",   "2001:db8:200:1::/64", "2001:db8:200::/63",
                                 "2001:db8:200:7::/64", "2001:db8:100:2::/64", "2001:db8:100:f0::/64"};

// "198.18.0.5/24" -> address and length.
std::pair<std::optional<Ip>, int> splitAddress(const std::string& text) {
    const auto slash = text.find('/');
    if (slash == std::string::npos) return {std::nullopt, -1};
    return {Ip::parse(text.substr(0, slash)), std::atoi(text.c_str() + slash + 1)};
}

}  // namespace

CrashModel::CrashModel(int clients, std::uint64_t seed) : clients_(static_cast<std::size_t>(clients)) {
    std::mt19937_64 seeds(seed);
    for (auto& client : clients_) client.rng.seed(seeds());
}

CrashOp CrashModel::poolRequestOp(int client) {
    CrashOp op;
    op.client = client;
    op.path = "/IpamDriver.RequestPool";
    op.v6 = roll(client, 2) == 1;
    if (roll(client, 2) == 0) {
        op.kind = CrashOp::Kind::StaticPool;
        op.subnet = Cidr::of(op.v6 ? kStaticV6[roll(client, std::size(kStaticV6))]
                                   : kStaticV4[roll(client, std::size(kStaticV4))]);
        op.body = requestPoolBody(op.subnet->toString(), op.v6);
        return op;
    }
    std::string options = "{}";
    op.length = op.v6 ? 64 : 24;
    switch (roll(client, 3)) {
        case 1:
            options = R"({"com.docker.network.ipam.serial":"true"})";
            break;
        case 2:
            op.length = op.v6 ? 80 : 26;
            options = op.v6 ? R"({"v6ab":"80"})" : R"({"v4ab":"26"})";
            break;
    }
    op.body = requestPoolBody("", op.v6, "", options);
    return op;
}

CrashOp CrashModel::nextOp(int client) {
    std::vector<std::string> own;
    for (const auto& [id, pool] : pools_) {
        if (pool.owner == client) own.push_back(id);
    }
    const int dice = roll(client, 100);
    if (own.empty() || (dice < 15 && own.size() < kMaxPoolsPerClient)) return poolRequestOp(client);
    CrashOp op;
    op.kind = CrashOp::Kind::ReleasePool;
    op.client = client;
    op.path = "/IpamDriver.ReleasePool";
    op.poolId = own[roll(client, static_cast<int>(own.size()))];
    const Pool& pool = pools_.at(op.poolId);
    if (dice < 25) {
        op.body = releasePoolBody(op.poolId);
        return op;
    }
    const Ip someAddress = pool.pool.at(1 + roll(client, kSpecificOffsets));
    if (dice < 60 && pool.held.size() < kMaxAddressesPerPool) {
        op.path = "/IpamDriver.RequestAddress";
        op.kind = roll(client, 2) == 0 ? CrashOp::Kind::AutoAddress : CrashOp::Kind::SpecificAddress;
        if (op.kind == CrashOp::Kind::SpecificAddress) op.address = someAddress;
        op.body = requestAddressBody(op.poolId, op.address ? op.address->toString() : "");
        return op;
    }
    op.kind = CrashOp::Kind::ReleaseAddress;
    op.path = "/IpamDriver.ReleaseAddress";
    op.address = someAddress;
    if (!pool.held.empty() && roll(client, 10) != 0) {
        auto it = pool.held.begin();
        std::advance(it, roll(client, static_cast<int>(pool.held.size())));
        op.address = *it;
    }
    op.body = releaseAddressBody(op.poolId, op.address->toString());
    return op;
}

CrashOp CrashModel::send(int client) {
    std::lock_guard lock(mutex_);
    CrashOp op = nextOp(client);
    Client& state = clients_[client];
    state.inFlight = op;
    if (op.changesPools()) ++poolChanges_;
    state.poolChangesAtSend = poolChanges_;
    state.contestedAtSend = otherPoolChangeInFlight(client);
    return op;
}

void CrashModel::answered(const CrashOp& op, const HttpResponse& response) {
    std::lock_guard lock(mutex_);
    ++counts.requests;
    try {
        checkReply(op, response);
    } catch (const std::exception& error) {
        ADD_FAILURE() << "unreadable answer to " << op.body << ": " << response.body << " (" << error.what() << ")";
    }
    clients_[op.client].inFlight.reset();
    if (op.changesPools()) ++poolChanges_;
}

std::vector<CrashOp> CrashModel::takeInFlight() {
    std::vector<CrashOp> inFlight;
    for (auto& client : clients_) {
        if (client.inFlight) inFlight.push_back(*client.inFlight);
        client.inFlight.reset();
    }
    return inFlight;
}

bool CrashModel::otherPoolChangeInFlight(int client) const {
    for (int other = 0; other < static_cast<int>(clients_.size()); ++other) {
        if (other != client && clients_[other].inFlight && clients_[other].inFlight->changesPools()) return true;
    }
    return false;
}

// A pool that is held for sure: granted, and its owner is not releasing it right now. Such a
// pool was held all along while any request still unanswered was decided.
bool CrashModel::overlapsSettledPool(const Cidr& prefix) const {
    for (const auto& [id, pool] : pools_) {
        const auto& releasing = clients_[pool.owner].inFlight;
        const bool beingReleased =
            releasing && releasing->kind == CrashOp::Kind::ReleasePool && releasing->poolId == id;
        if (!beingReleased && pool.pool.overlaps(prefix)) return true;
    }
    return false;
}

void CrashModel::grantPool(const std::string& id, const Cidr& pool, int owner) {
    pools_[id] = Pool{pool, {}, owner};
    releasedPools_.erase(id);
}

// Checks the answer against the model's prediction and applies acknowledged changes.
void CrashModel::checkReply(const CrashOp& op, const HttpResponse& response) {
    const auto context = [&] {
        return op.path + " " + op.body + " -> " + std::to_string(response.status) + " " + response.body;
    };
    const auto expectRefusal = [&](const std::string& mention) {
        EXPECT_EQ(response.status, 500) << context();
        EXPECT_NE(response.body.find(mention), std::string::npos) << context();
        ++counts.refusalsAsPredicted;
    };
    if (response.status == 200) ++counts.changesAcknowledged;
    switch (op.kind) {
        case CrashOp::Kind::StaticPool: {
            if (overlapsSettledPool(*op.subnet)) return expectRefusal("overlaps");
            const Client& client = clients_[op.client];
            // Another client's pool change may have been decided before or after this one.
            if (client.contestedAtSend || client.poolChangesAtSend != poolChanges_ ||
                otherPoolChangeInFlight(op.client)) {
                ++counts.racesEitherWay;
                if (response.status == 500) return expectRefusal("overlaps");
            }
            ASSERT_EQ(response.status, 200) << context();
            const auto granted = Cidr::parse(jsonField(response.body, "Pool"));
            ASSERT_TRUE(granted && *granted == *op.subnet) << context();
            EXPECT_EQ(jsonField(response.body, "PoolID"), "gipam-local/" + jsonField(response.body, "Pool"));
            return grantPool(jsonField(response.body, "PoolID"), *granted, op.client);
        }
        case CrashOp::Kind::DynamicPool: {
            ASSERT_EQ(response.status, 200) << context();
            const auto granted = Cidr::parse(jsonField(response.body, "Pool"));
            ASSERT_TRUE(granted) << context();
            EXPECT_TRUE((op.v6 ? kV6Supernet : kV4Supernet).contains(*granted)) << context();
            EXPECT_EQ(granted->length, op.length) << context();
            EXPECT_FALSE(overlapsSettledPool(*granted)) << "handed out twice: " << context();
            EXPECT_EQ(jsonField(response.body, "PoolID"), "gipam-local/" + jsonField(response.body, "Pool"));
            return grantPool(jsonField(response.body, "PoolID"), *granted, op.client);
        }
        case CrashOp::Kind::ReleasePool:
            ASSERT_EQ(response.status, 200) << context();
            std::erase_if(releasedAddresses_, [&](const auto& entry) { return entry.first == op.poolId; });
            // Another client may already have been granted the same block (same ID) again.
            if (pools_.at(op.poolId).owner != op.client) return;
            pools_.erase(op.poolId);
            releasedPools_.insert(op.poolId);
            return;
        case CrashOp::Kind::SpecificAddress:
        case CrashOp::Kind::AutoAddress: {
            Pool& pool = pools_.at(op.poolId);
            if (op.address && pool.held.count(*op.address)) return expectRefusal("is already allocated");
            ASSERT_EQ(response.status, 200) << context();
            const auto [address, length] = splitAddress(jsonField(response.body, "Address"));
            ASSERT_TRUE(address) << context();
            EXPECT_EQ(length, pool.pool.length) << context();
            if (op.address) {
                EXPECT_EQ(address->toString(), op.address->toString()) << context();
            }
            EXPECT_TRUE(pool.pool.contains(*address)) << context();
            EXPECT_TRUE(*address != pool.pool.network) << context();
            EXPECT_FALSE(pool.held.count(*address)) << "handed out twice: " << context();
            pool.held.insert(*address);
            releasedAddresses_.erase({op.poolId, *address});
            return;
        }
        case CrashOp::Kind::ReleaseAddress:
            ASSERT_EQ(response.status, 200) << context();
            EXPECT_EQ(response.body, "{}");
            if (pools_.at(op.poolId).held.erase(*op.address)) releasedAddresses_.insert({op.poolId, *op.address});
            return;
    }
}

void CrashModel::resolve(const std::string& leaseText, const std::vector<CrashOp>& inFlight) {
    const auto snapshot = parseLeaseSnapshot(leaseText);
    ASSERT_TRUE(snapshot.problems.empty()) << snapshot.describeProblems();
    using Kind = CrashOp::Kind;
    std::vector<bool> applied(inFlight.size());
    // The first unused request in flight that could have made this change, if any.
    const auto find = [&](const auto& couldHave) -> const CrashOp* {
        for (std::size_t i = 0; i < inFlight.size(); ++i) {
            if (!applied[i] && couldHave(inFlight[i])) return &inFlight[i];
        }
        return nullptr;
    };
    const auto claim = [&](const auto& couldHave) -> const CrashOp* {
        const CrashOp* op = find(couldHave);
        if (op) applied[static_cast<std::size_t>(op - inFlight.data())] = true;
        return op;
    };
    const auto couldGrant = [](const Cidr& pool, bool exact) {
        return [pool, exact](const CrashOp& op) {
            if (exact) return op.kind == Kind::StaticPool && *op.subnet == pool;
            return op.kind == Kind::DynamicPool && op.v6 == pool.network.v6 && op.length == pool.length &&
                   (op.v6 ? kV6Supernet : kV4Supernet).contains(pool);
        };
    };
    std::vector<std::string> unexplained;
    std::map<std::string, int> regrantedTo;
    for (const auto& entry : pools_) {
        // Named copies, not structured bindings: clang 14 cannot capture those in lambdas.
        const std::string& id = entry.first;
        const auto& pool = entry.second;
        const auto found = snapshot.pools.find(id);
        const auto releases = [&id](const CrashOp& op) { return op.kind == Kind::ReleasePool && op.poolId == id; };
        if (found == snapshot.pools.end()) {
            if (!claim(releases)) unexplained.push_back("acknowledged pool " + id + " was lost");
            continue;
        }
        if (found->second.pool != pool.pool) unexplained.push_back("pool " + id + " changed its prefix");
        // Released and granted again (same block, same ID) to another request in flight.
        if (!pool.held.empty() && found->second.addresses.empty() && find(releases)) {
            const CrashOp* request = find(couldGrant(pool.pool, true));
            if (!request) request = find(couldGrant(pool.pool, false));
            if (request) {
                claim(releases);
                claim([request](const CrashOp& op) { return &op == request; });
                regrantedTo[id] = request->client;
                continue;
            }
        }
        for (const auto& address : pool.held) {
            if (found->second.addresses.count(address)) continue;
            if (!claim([&](const CrashOp& op) {
                    return op.kind == Kind::ReleaseAddress && op.poolId == id && *op.address == address;
                })) {
                unexplained.push_back("acknowledged address " + address.toString() + " of " + id + " was lost");
            }
        }
        std::vector<Ip> extra;
        for (const auto& address : found->second.addresses) {
            if (!pool.held.count(address)) extra.push_back(address);
        }
        // Specific requests first: an automatic one could have taken any of the addresses.
        std::erase_if(extra, [&](const Ip& address) {
            return claim([&](const CrashOp& op) {
                return op.kind == Kind::SpecificAddress && op.poolId == id && *op.address == address;
            });
        });
        for (const auto& address : extra) {
            if (!claim([&](const CrashOp& op) { return op.kind == Kind::AutoAddress && op.poolId == id; })) {
                unexplained.push_back("address " + address.toString() + " of " + id + " is held but never granted");
            }
        }
    }
    std::map<std::string, Pool> truth;
    std::vector<std::pair<std::string, const PoolLease*>> newPools;
    for (const auto& [id, lease] : snapshot.pools) {
        const auto known = pools_.find(id);
        if (known != pools_.end()) {
            const auto regranted = regrantedTo.find(id);
            const int owner = regranted == regrantedTo.end() ? known->second.owner : regranted->second;
            truth[id] = Pool{lease.pool, lease.addresses, owner};
        } else if (!lease.addresses.empty() || id != "gipam-local/" + lease.pool.toString()) {
            unexplained.push_back("pool " + id + " is held but was never granted as such");
        } else {
            newPools.emplace_back(id, &lease);
        }
    }
    // Exact --subnet requests first, then automatic blocks.
    for (const bool exact : {true, false}) {
        std::erase_if(newPools, [&](const auto& entry) {
            const Cidr& pool = entry.second->pool;
            const CrashOp* op = claim(couldGrant(pool, exact));
            if (op) truth[entry.first] = Pool{pool, {}, op->client};
            return op != nullptr;
        });
    }
    for (const auto& [id, lease] : newPools) unexplained.push_back("pool " + id + " is held but was never granted");
    std::string details;
    for (const auto& line : unexplained) details += "\n  " + line;
    std::string requests;
    for (const auto& op : inFlight) requests += "\n  " + op.path + " " + op.body;
    EXPECT_TRUE(unexplained.empty()) << "lease file after kill " << counts.kills
                                     << " differs from what the clients were told:" << details
                                     << "\nrequests in flight:" << requests << "\n"
                                     << leaseText;
    for (std::size_t i = 0; i < inFlight.size(); ++i) {
        ++(applied[i] ? counts.lostRepliesApplied : counts.lostRepliesNotApplied);
        // A release that took effect is one more address or pool that must now be free.
        if (applied[i] && inFlight[i].kind == Kind::ReleaseAddress) {
            releasedAddresses_.insert({inFlight[i].poolId, *inFlight[i].address});
        }
        if (applied[i] && inFlight[i].kind == Kind::ReleasePool) releasedPools_.insert(inFlight[i].poolId);
    }
    pools_ = std::move(truth);
    for (const auto& [id, pool] : pools_) releasedPools_.erase(id);
}

}  // namespace gipam::testing
