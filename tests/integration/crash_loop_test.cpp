// Crash loop: clients send random RequestPool/RequestAddress/ReleaseAddress/ReleasePool traffic
// (static and automatic pools, v4 and v6, specific and automatic addresses) while gipam is
// killed with SIGKILL after a random 0-20 ms, so kills land inside requests, also between the
// durable write and the reply. After each kill the lease file must hold exactly what the
// clients were told, give or take the requests whose replies were lost; after each restart
// gipam must still hold every acknowledged pool and address and must have freed every
// acknowledged release. Three clients run at once, so writes are shared (group commit).
//
// CI runs 200 kills (about 10 s on an SSD). A longer local run, optionally with a fixed seed:
//   GIPAM_CRASH_KILLS=5000 GIPAM_CRASH_SEED=42 build/tests/integration_tests --gtest_filter='CrashLoop*'
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "integration/crash_model.h"
#include "integration/fixture.h"

namespace gipam::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 3;
constexpr int kMaxKillDelayMicroseconds = 20000;

long environmentNumber(const char* name, long fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::strtol(value, nullptr, 10) : fallback;
}

class CrashLoopTest : public GipamTest {
protected:
    std::vector<CrashOp> runTrafficUntilKilled();
    void runClient(int index, const std::atomic<bool>& killing);
    void verifyAfterRestart();
    void printSummary(long seed, double seconds);

    std::unique_ptr<CrashModel> model_;
    std::mt19937_64 rng_;
};

void CrashLoopTest::runClient(int index, const std::atomic<bool>& killing) {
    try {
        auto connection = HttpConnection::unix(socket());
        while (!HasFailure()) {
            const CrashOp op = model_->send(index);
            model_->answered(op, connection.post(op.path, op.body));
        }
    } catch (const std::exception& error) {
        // Only the kill may end a connection; anything earlier is the server failing us.
        EXPECT_TRUE(killing) << "client " << index << ": connection failed before the kill: " << error.what();
    }
}

std::vector<CrashOp> CrashLoopTest::runTrafficUntilKilled() {
    const auto delay =
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, kMaxKillDelayMicroseconds)(rng_));
    const pid_t pid = gipam_->pid();
    std::atomic<bool> killing{false};
    std::thread killer([&killing, delay, pid] {
        std::this_thread::sleep_for(delay);
        killing = true;
        ::kill(pid, SIGKILL);
    });
    std::vector<std::thread> clients;
    for (int index = 0; index < kClients; ++index) {
        clients.emplace_back([this, index, &killing] { runClient(index, killing); });
    }
    for (auto& client : clients) client.join();
    killer.join();
    EXPECT_EQ(gipam_->stop(SIGKILL), 128 + SIGKILL) << "gipam died by itself";
    auto& counts = model_->counts;
    ++counts.kills;
    if (std::filesystem::exists(leaseFile().string() + ".tmp")) ++counts.tempFilesLeft;
    auto lost = model_->takeInFlight();
    if (!lost.empty()) ++counts.killsMidRequest;
    return lost;
}

// With no kills: every held pool and address is refused when asked for again, released pools
// are unknown, and every released address can be had again (the model then holds it).
void CrashLoopTest::verifyAfterRestart() {
    auto connection = HttpConnection::unix(socket());
    EXPECT_EQ(connection.post("/Plugin.Activate", "").status, 200);
    auto& counts = model_->counts;
    auto& pools = model_->pools();
    for (auto& [id, pool] : pools) {
        const auto again =
            connection.post("/IpamDriver.RequestPool", requestPoolBody(pool.pool.toString(), pool.pool.network.v6));
        EXPECT_EQ(again.status, 500) << "pool " << id << " was lost: " << again.body;
        EXPECT_NE(again.body.find("overlaps"), std::string::npos) << again.body;
        ++counts.poolsVerifiedHeld;
        for (const auto& address : pool.held) {
            const auto taken =
                connection.post("/IpamDriver.RequestAddress", requestAddressBody(id, address.toString()));
            EXPECT_EQ(taken.status, 500) << "address " << address.toString() << " of " << id << " was lost";
            EXPECT_NE(taken.body.find("is already allocated"), std::string::npos) << taken.body;
            ++counts.addressesVerifiedHeld;
        }
    }
    for (const auto& id : model_->releasedPools()) {
        const auto gone = connection.post("/IpamDriver.ReleasePool", releasePoolBody(id));
        EXPECT_EQ(gone.status, 500) << "released pool " << id << " is held again: " << gone.body;
        EXPECT_NE(gone.body.find("unknown pool ID"), std::string::npos) << gone.body;
        ++counts.releasedPoolsVerifiedGone;
    }
    for (const auto& [id, address] : model_->takeReleasedAddresses()) {
        const auto pool = pools.find(id);
        if (pool == pools.end() || pool->second.held.count(address)) continue;
        const auto again = connection.post("/IpamDriver.RequestAddress", requestAddressBody(id, address.toString()));
        EXPECT_EQ(again.status, 200) << "released address " << address.toString() << " of " << id
                                     << " is still held: " << again.body;
        if (again.status == 200) pool->second.held.insert(address);
        ++counts.releasedAddressesVerifiedFree;
    }
}

void CrashLoopTest::printSummary(long seed, double seconds) {
    const auto& c = model_->counts;
    const auto last = readLeaseSnapshot(leaseFile());
    std::cout << "[ crash loop ] " << c.kills << " kills in " << seconds << " s (seed " << seed << ", " << kClients
              << " clients): " << c.requests << " replies (" << c.changesAcknowledged << " granted/released, "
              << c.refusalsAsPredicted << " refused as predicted, " << c.racesEitherWay
              << " --subnet races either way); " << c.killsMidRequest
              << " kills mid-request; lost replies: " << c.lostRepliesApplied << " after the change was durable, "
              << c.lostRepliesNotApplied << " before; " << c.tempFilesLeft << " kills left leases.json.tmp\n"
              << "[ crash loop ] verified after restarts: " << c.poolsVerifiedHeld << " pools and "
              << c.addressesVerifiedHeld << " addresses still held, " << c.releasedAddressesVerifiedFree
              << " released addresses free, " << c.releasedPoolsVerifiedGone << " released pools gone; final lease "
              << "file: " << last.pools.size() << " pools, " << last.addressCount() << " addresses" << std::endl;
    RecordProperty("seed", std::to_string(seed));
    RecordProperty("kills", static_cast<int>(c.kills));
    RecordProperty("replies", static_cast<int>(c.requests));
    RecordProperty("lost_replies_applied", static_cast<int>(c.lostRepliesApplied));
    RecordProperty("lost_replies_not_applied", static_cast<int>(c.lostRepliesNotApplied));
}

TEST_F(CrashLoopTest, KillNineAtRandomMomentsLosesNothingAndHandsOutNothingTwice) {
    const long kills = environmentNumber("GIPAM_CRASH_KILLS", 200);
    const long seed =
        environmentNumber("GIPAM_CRASH_SEED",
                          static_cast<long>(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007));
    std::cout << "[ crash loop ] seed " << seed << " (rerun with GIPAM_CRASH_SEED=" << seed << "), " << kills
              << " kills" << std::endl;
    rng_.seed(static_cast<std::uint64_t>(seed));
    model_ = std::make_unique<CrashModel>(kClients, rng_());
    const auto& counts = model_->counts;
    const auto began = Clock::now();
    start();
    ASSERT_FALSE(HasFatalFailure());
    while (counts.kills < kills) {
        const auto lost = runTrafficUntilKilled();
        if (!HasFailure()) model_->resolve(readFile(leaseFile()), lost);
        if (HasFailure()) break;
        start();
        ASSERT_FALSE(HasFatalFailure()) << "gipam did not restart after kill " << counts.kills << ": exit status "
                                        << gipam_->stop() << "; lease file:\n"
                                        << readFile(leaseFile());
        verifyAfterRestart();
        if (HasFailure()) break;
    }
    if (HasFailure()) std::cout << "[ crash loop ] FAILED at kill " << counts.kills << " (seed " << seed << ")\n";
    printSummary(seed, std::chrono::duration<double>(Clock::now() - began).count());
    if (HasFailure()) return;
    // The checks after each restart must have checked something.
    EXPECT_GT(counts.poolsVerifiedHeld, kills) << "no pool was verified held after a restart";
    EXPECT_GT(counts.addressesVerifiedHeld, kills) << "no address was verified held after a restart";
    EXPECT_GT(counts.releasedAddressesVerifiedFree, 0) << "no release was verified after a restart";
    EXPECT_GT(counts.changesAcknowledged, kills / 2) << "too little traffic between kills to test anything";
    EXPECT_GT(counts.killsMidRequest, kills / 2) << "kills did not land inside requests";
}

}  // namespace
}  // namespace gipam::testing
