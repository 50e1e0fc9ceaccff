// The crash loop's model of what gipam told its clients (crash_loop_test.cpp): the pools and
// addresses each client holds, the releases acknowledged and the requests in flight. It picks
// random requests, predicts and checks every answer, and after a kill explains the lease file
// by the requests whose replies were lost.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "integration/lease_snapshot.h"
#include "support/gipam_process.h"

namespace gipam::testing {

/// One request and what the model needs to predict and check its answer.
struct CrashOp {
    enum class Kind { StaticPool, DynamicPool, ReleasePool, SpecificAddress, AutoAddress, ReleaseAddress };
    Kind kind = Kind::DynamicPool;
    int client = 0;
    std::string path;
    std::string body;
    std::string poolId;          // ReleasePool and address requests
    std::optional<Cidr> subnet;  // StaticPool
    bool v6 = false;             // DynamicPool
    int length = 0;              // DynamicPool: the block length asked for
    std::optional<Ip> address;   // SpecificAddress, ReleaseAddress

    bool changesPools() const {
        return kind == Kind::StaticPool || kind == Kind::DynamicPool || kind == Kind::ReleasePool;
    }
};

struct CrashCounts {
    long kills = 0;
    long requests = 0;
    long changesAcknowledged = 0;
    long refusalsAsPredicted = 0;
    long racesEitherWay = 0;  // a --subnet contested by another client's pool change in flight
    long killsMidRequest = 0;
    long lostRepliesApplied = 0;
    long lostRepliesNotApplied = 0;
    long tempFilesLeft = 0;
    long poolsVerifiedHeld = 0;
    long addressesVerifiedHeld = 0;
    long releasedAddressesVerifiedFree = 0;
    long releasedPoolsVerifiedGone = 0;
};

class CrashModel {
public:
    struct Pool {
        Cidr pool;
        std::set<Ip> held;
        int owner = 0;  // only its owner asks for addresses in it or releases it
    };

    CrashModel(int clients, std::uint64_t seed);

    /// The client's next request, marked in flight. Thread-safe.
    CrashOp send(int client);
    /// Checks the answer against the prediction and applies it; the request is no longer in
    /// flight. Thread-safe.
    void answered(const CrashOp& op, const HttpResponse& response);
    /// The requests whose replies the kill cut off; afterwards none is in flight.
    std::vector<CrashOp> takeInFlight();
    /// Compares the lease file with the model: a failure names every difference the lost
    /// replies cannot explain, each explaining at most one. The model then takes the file as
    /// the truth.
    void resolve(const std::string& leaseText, const std::vector<CrashOp>& lost);

    std::map<std::string, Pool>& pools() { return pools_; }
    const std::set<std::string>& releasedPools() const { return releasedPools_; }
    /// Addresses whose release was acknowledged (or took effect) since the last call.
    std::set<std::pair<std::string, Ip>> takeReleasedAddresses() { return std::exchange(releasedAddresses_, {}); }

    CrashCounts counts;

private:
    struct Client {
        std::mt19937_64 rng;
        std::optional<CrashOp> inFlight;
        std::uint64_t poolChangesAtSend = 0;
        bool contestedAtSend = false;
    };

    // These run with mutex_ held.
    CrashOp nextOp(int client);
    CrashOp poolRequestOp(int client);
    void checkReply(const CrashOp& op, const HttpResponse& response);
    bool overlapsSettledPool(const Cidr& prefix) const;
    bool otherPoolChangeInFlight(int client) const;
    void grantPool(const std::string& id, const Cidr& pool, int owner);
    int roll(int client, int below) { return std::uniform_int_distribution<int>(0, below - 1)(clients_[client].rng); }

    std::mutex mutex_;
    std::map<std::string, Pool> pools_;  // what the clients were told they hold
    std::set<std::pair<std::string, Ip>> releasedAddresses_;
    std::set<std::string> releasedPools_;
    std::vector<Client> clients_;
    std::uint64_t poolChanges_ = 0;  // pool requests and releases sent or answered, by anyone
};

}  // namespace gipam::testing
