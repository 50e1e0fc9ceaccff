// The reuse delay: a released address cools before an automatic pick hands it out again, the
// release time is stored (a restart keeps it), asked for by value it is granted, and when nothing
// else is free the address that cooled longest goes, counted.
#include <gtest/gtest.h>

#include <thread>

#include "ipam/ipam_metrics.h"
#include "ipam/service.h"
#include "ipam/service_testing.h"
#include "log/log.h"

namespace gipam::ipam {
namespace {

using namespace std::chrono_literals;
using testing::address;
using testing::FakeLeaseStore;
using testing::ipamErrorOf;

PoolRequest poolRequest(std::string pool, Options options = {}, std::string subPool = "") {
    return {std::string(kLocalAddressSpace), std::move(pool), std::move(subPool), std::move(options), false};
}

class ReuseDelayTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }

    std::string pick(IpamService& service, const std::string& poolId) {
        return service.requestAddress({poolId, "", {}}).address.toString();
    }

    FakeLeaseStore store_;
};

TEST_F(ReuseDelayTest, ARestartedContainerGetsAFreshAddressWhileTheOldOneCools) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
    std::set<std::string> seen;
    for (int restart = 0; restart < 5; ++restart) {
        const auto granted = pick(service, pool);
        EXPECT_TRUE(seen.insert(granted).second) << granted << " handed out again within the delay";
        service.releaseAddress(pool, granted);
    }
    const auto record = service.snapshot().pools.at(0);
    EXPECT_TRUE(record.addresses.empty());
    EXPECT_EQ(record.cooling.size(), 5u);
}

TEST_F(ReuseDelayTest, WithoutADelayAReleasedAddressIsReusedAtOnce) {
    IpamService service(testing::dualStackSupernets(), store_);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
    const auto first = pick(service, pool);
    service.releaseAddress(pool, first);
    EXPECT_EQ(pick(service, pool), first);
    EXPECT_TRUE(service.snapshot().pools.at(0).cooling.empty());
}

TEST_F(ReuseDelayTest, ANetworksOwnDelayWinsOverGipams) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
    const auto pool =
        service.requestPool(poolRequest("198.18.4.0/24", {{std::string(kReuseDelayOption), "0"}})).poolId;
    const auto first = pick(service, pool);
    service.releaseAddress(pool, first);
    EXPECT_EQ(pick(service, pool), first);
    IpamService none(testing::dualStackSupernets(), store_);
    EXPECT_NE(ipamErrorOf([&] {
                  none.requestPool(poolRequest("198.18.5.0/24", {{std::string(kReuseDelayOption), "soon"}}));
              }).find("gipam.reuse-delay=soon is not a reuse delay"),
              std::string::npos);
}

TEST_F(ReuseDelayTest, TheDelayEnds) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 20ms);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
    const auto first = pick(service, pool);
    service.releaseAddress(pool, first);
    EXPECT_NE(pick(service, pool), first);
    std::this_thread::sleep_for(40ms);
    EXPECT_EQ(pick(service, pool), first);
    EXPECT_TRUE(service.snapshot().pools.at(0).cooling.empty());
}

TEST_F(ReuseDelayTest, ACoolingAddressAskedForByValueIsGranted) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
    const auto first = pick(service, pool);
    service.releaseAddress(pool, first);
    EXPECT_EQ(service.requestAddress({pool, first, {}}).address.toString(), first);
    EXPECT_TRUE(service.snapshot().pools.at(0).cooling.empty());
}

TEST_F(ReuseDelayTest, TheDelaySurvivesARestart) {
    std::string pool, first;
    {
        IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
        pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
        first = pick(service, pool);
        service.releaseAddress(pool, first);
    }
    ASSERT_EQ(store_.saves.back().pools.at(0).cooling.size(), 1u);
    // The next run has no delay of its own configured: the stored release time still holds.
    FakeLeaseStore restarted(store_.saves.back());
    IpamService service(store_.saves.back(), restarted);
    EXPECT_NE(pick(service, pool), first);
}

TEST_F(ReuseDelayTest, WhenOnlyCoolingAddressesAreLeftTheOneReleasedLongestAgoIsHandedOutAndCounted) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/29")).poolId;  // .1 to .6
    std::vector<std::string> granted;
    for (int i = 0; i < 6; ++i) granted.push_back(pick(service, pool));
    service.releaseAddress(pool, granted[3]);
    std::this_thread::sleep_for(2ms);
    service.releaseAddress(pool, granted[1]);
    const auto before = ipamMetrics().reuseDelayCutShort.load();
    EXPECT_EQ(pick(service, pool), granted[3]);
    EXPECT_EQ(pick(service, pool), granted[1]);
    EXPECT_EQ(ipamMetrics().reuseDelayCutShort.load(), before + 2);
    EXPECT_NE(ipamErrorOf([&] { pick(service, pool); }).find("no free IPv4 address"), std::string::npos);
}

TEST_F(ReuseDelayTest, AFailedSaveLeavesTheAddressHeldOrCoolingAsBefore) {
    IpamService service(testing::dualStackSupernets(), store_, nullptr, 1h);
    const auto pool = service.requestPool(poolRequest("198.18.4.0/24")).poolId;
    const auto first = pick(service, pool);
    auto before = service.snapshot();
    store_.failing = true;
    EXPECT_NE(ipamErrorOf([&] { service.releaseAddress(pool, first); }), "");
    EXPECT_EQ(service.snapshot(), before);
    store_.failing = false;
    service.releaseAddress(pool, first);
    before = service.snapshot();
    store_.failing = true;
    EXPECT_NE(ipamErrorOf([&] { service.requestAddress({pool, first, {}}); }), "");
    store_.failing = false;
    EXPECT_EQ(service.snapshot(), before);
}

}  // namespace
}  // namespace gipam::ipam
