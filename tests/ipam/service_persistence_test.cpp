// IpamService and its LeaseStore: nothing is granted that is not saved, and saved state
// rebuilds the same service.
#include <gtest/gtest.h>

#include "ipam/service.h"
#include "ipam/service_testing.h"
#include "log/log.h"

namespace gipam::ipam {
namespace {

using testing::address;
using testing::dualStackSupernets;
using testing::FakeLeaseStore;
using testing::ipamErrorOf;
using ::testing::IsSubstring;
using testing::kGateway;
using testing::kSerial;
using testing::prefix;

PoolRequest poolRequest(std::string pool = "", bool v6 = false, Options options = {}, std::string subPool = "") {
    return {std::string(kLocalAddressSpace), pool, subPool, options, v6};
}

class IpamServicePersistenceTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }

    std::string requestOne() { return service_.requestPool(poolRequest()).poolId; }

    // Runs `action` with saving broken: it must throw IpamError carrying the store's message
    // and leave the state exactly as before.
    template <typename Action>
    void expectUndoneWhenSaveFails(Action action) {
        const auto before = service_.snapshot();
        const auto saves = store_.saves.size();
        store_.failing = true;
        const auto message = ipamErrorOf(action);
        store_.failing = false;
        EXPECT_PRED_FORMAT2(IsSubstring, "No space left on device", message);
        EXPECT_EQ(service_.snapshot(), before);
        EXPECT_EQ(store_.saves.size(), saves);
    }

    FakeLeaseStore store_;
    IpamService service_{dualStackSupernets(), store_};
};

TEST_F(IpamServicePersistenceTest, FailedSaveUndoesADynamicRequestPool) {
    requestOne();
    expectUndoneWhenSaveFails([&] { service_.requestPool(poolRequest()); });
    EXPECT_EQ(service_.requestPool(poolRequest()).pool, prefix("198.18.1.0/24"));
}

TEST_F(IpamServicePersistenceTest, FailedSaveUndoesAStaticRequestPool) {
    expectUndoneWhenSaveFails([&] { service_.requestPool(poolRequest("198.18.0.0/24")); });
    EXPECT_EQ(service_.requestPool(poolRequest()).pool, prefix("198.18.0.0/24"));
    expectUndoneWhenSaveFails([&] { service_.requestPool(poolRequest("198.19.0.0/24", false, {}, "198.19.0.0/25")); });
    EXPECT_NO_THROW(service_.requestPool(poolRequest("198.19.0.0/24", false, {}, "198.19.0.128/25")));
}

TEST_F(IpamServicePersistenceTest, FailedSaveUndoesReleasePool) {
    const auto id = requestOne();
    service_.requestAddress({id, "", {}});
    service_.requestAddress({id, "", {}});
    expectUndoneWhenSaveFails([&] { service_.releasePool(id); });
    EXPECT_EQ(service_.requestAddress({id, "", {}}).address, address("198.18.0.3"));
    EXPECT_EQ(service_.requestPool(poolRequest()).pool, prefix("198.18.1.0/24"));
}

TEST_F(IpamServicePersistenceTest, FailedSaveUndoesRequestAddress) {
    const auto id = requestOne();
    expectUndoneWhenSaveFails([&] { service_.requestAddress({id, "", {}}); });
    expectUndoneWhenSaveFails([&] { service_.requestAddress({id, "", kGateway}); });
    expectUndoneWhenSaveFails([&] { service_.requestAddress({id, "198.18.0.50", {}}); });
    EXPECT_EQ(service_.requestAddress({id, "", {}}).address, address("198.18.0.1"));
    EXPECT_EQ(service_.requestAddress({id, "198.18.0.50", {}}).address, address("198.18.0.50"));
}

TEST_F(IpamServicePersistenceTest, FailedSaveRestoresTheRoundRobinPosition) {
    const auto id = service_.requestPool(poolRequest("", false, kSerial)).poolId;
    service_.requestAddress({id, "", {}});
    expectUndoneWhenSaveFails([&] { service_.requestAddress({id, "", {}}); });
    EXPECT_EQ(service_.requestAddress({id, "", {}}).address, address("198.18.0.2"));
}

TEST_F(IpamServicePersistenceTest, FailedSaveUndoesReleaseAddress) {
    const auto id = requestOne();
    service_.requestAddress({id, "", {}});
    expectUndoneWhenSaveFails([&] { service_.releaseAddress(id, "198.18.0.1"); });
    EXPECT_PRED_FORMAT2(IsSubstring, "already allocated", ipamErrorOf([&] {
                            service_.requestAddress({id, "198.18.0.1", {}});
                        }));
}

TEST_F(IpamServicePersistenceTest, RebuiltServiceReproducesTheSnapshotExactly) {
    const auto plain = requestOne();
    service_.requestAddress({plain, "", kGateway});
    service_.requestAddress({plain, "198.18.0.9", {}});
    const auto ranged =
        service_.requestPool(poolRequest("198.19.1.0/24", false, {{"com.example.team", "blue"}}, "198.19.1.128/25"))
            .poolId;
    service_.requestAddress({ranged, "", {}});
    const auto serial = service_.requestPool(poolRequest("", false, kSerial)).poolId;
    service_.requestAddress({serial, "", {}});
    service_.requestAddress({serial, "", {}});
    service_.releaseAddress(serial, "198.18.1.1");
    const auto v6 = service_.requestPool(poolRequest("", true)).poolId;
    service_.requestAddress({v6, "", {}});

    const auto snapshot = service_.snapshot();
    FakeLeaseStore otherStore(snapshot);
    const IpamService rebuilt(snapshot, otherStore);
    EXPECT_EQ(rebuilt.snapshot(), snapshot);
    EXPECT_TRUE(otherStore.saves.empty()) << "loading must not save";
}

TEST_F(IpamServicePersistenceTest, RebuiltServiceContinuesWhereTheOldOneStopped) {
    requestOne();
    const auto serial = service_.requestPool(poolRequest("", false, kSerial)).poolId;
    service_.requestAddress({serial, "", {}});
    service_.requestAddress({serial, "", {}});
    service_.releaseAddress(serial, "198.18.1.1");
    FakeLeaseStore otherStore(service_.snapshot());
    IpamService rebuilt(service_.snapshot(), otherStore);
    EXPECT_EQ(rebuilt.requestPool(poolRequest()).pool, prefix("198.18.2.0/24"));
    EXPECT_EQ(rebuilt.requestAddress({serial, "", {}}).address, address("198.18.1.3"));
    EXPECT_PRED_FORMAT2(IsSubstring, "already allocated", ipamErrorOf([&] {
                            rebuilt.requestAddress({serial, "198.18.1.2", {}});
                        }));
}

TEST_F(IpamServicePersistenceTest, LoadedPoolInsideTheSupernetIsCarvedOut) {
    auto leases = dualStackSupernets();
    leases.pools.push_back({"gipam-local/198.18.0.0/24", prefix("198.18.0.0/24"), std::nullopt, {}, std::nullopt, {}});
    leases.pools.push_back({"hGk2J0aZbNq7Xw1e",
                            prefix("198.18.1.0/24"),
                            std::nullopt,
                            {},
                            std::nullopt,
                            {{address("198.18.1.1"), address("198.18.1.5")}}});
    FakeLeaseStore store(leases);
    IpamService loaded(leases, store);
    EXPECT_EQ(loaded.requestPool(poolRequest()).pool, prefix("198.18.2.0/24"));
    // Ids from the Go gipam keep working.
    EXPECT_EQ(loaded.requestAddress({"hGk2J0aZbNq7Xw1e", "", {}}).address, address("198.18.1.6"));
}

TEST_F(IpamServicePersistenceTest, BroadcastHandedOutByTheGoGipamStaysHeldWithAWarningNamingIt) {
    auto leases = dualStackSupernets();
    leases.pools.push_back({"hGk2J0aZbNq7Xw1e",
                            prefix("198.18.1.0/30"),
                            std::nullopt,
                            {},
                            std::nullopt,
                            {{address("198.18.1.1"), address("198.18.1.3")}}});
    FakeLeaseStore store(leases);
    std::vector<std::string> warnings;
    IpamService loaded(leases, store, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_PRED_FORMAT2(IsSubstring, "broadcast address 198.18.1.3 ", warnings[0]);
    EXPECT_EQ(loaded.snapshot(), leases);
    // 198.18.1.2 is the only host left; released, the broadcast is still never handed out.
    loaded.releaseAddress("hGk2J0aZbNq7Xw1e", "198.18.1.2");
    loaded.releaseAddress("hGk2J0aZbNq7Xw1e", "198.18.1.3");
    EXPECT_EQ(loaded.requestAddress({"hGk2J0aZbNq7Xw1e", "", {}}).address, address("198.18.1.2"));
    EXPECT_FALSE(ipamErrorOf([&] { loaded.requestAddress({"hGk2J0aZbNq7Xw1e", "", {}}); }).empty());
}

TEST_F(IpamServicePersistenceTest, PoolsOutsideAnySupernetLoad) {
    store::Leases leases;  // no supernets at all
    leases.pools.push_back({"gipam-local/198.19.0.0/24", prefix("198.19.0.0/24"), std::nullopt, {}, std::nullopt, {}});
    leases.pools.push_back(
        {"gipam-local/2001:db8:200::/64", prefix("2001:db8:200::/64"), std::nullopt, {}, std::nullopt, {}});
    FakeLeaseStore store(leases);
    const IpamService loaded(leases, store);
    EXPECT_EQ(loaded.snapshot(), leases);
}

class InconsistentLeasesTest : public ::testing::Test {
protected:
    static store::PoolRecord pool(std::string id, std::string_view cidr, std::vector<store::AddressRun> runs = {}) {
        return {std::move(id), prefix(cidr), std::nullopt, {}, std::nullopt, std::move(runs)};
    }
    std::string loadError(const store::Leases& leases) {
        return ipamErrorOf([&] { IpamService service(leases, store_); });
    }
    FakeLeaseStore store_;
};

TEST_F(InconsistentLeasesTest, OverlappingPoolsThrowNamingBoth) {
    auto leases = dualStackSupernets();
    leases.pools = {pool("a", "198.18.0.0/24"), pool("b", "198.18.0.128/25")};
    const auto message = loadError(leases);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.128/25", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/24", message);
}

TEST_F(InconsistentLeasesTest, DuplicateIdsThrow) {
    auto leases = dualStackSupernets();
    leases.pools = {pool("same", "198.18.0.0/24"), pool("same", "198.18.1.0/24")};
    EXPECT_PRED_FORMAT2(IsSubstring, "same", loadError(leases));
}

TEST_F(InconsistentLeasesTest, PoolCoveringTheSupernetThrows) {
    auto leases = dualStackSupernets();
    leases.pools = {pool("all", "198.18.0.0/16")};
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", loadError(leases));
}

TEST_F(InconsistentLeasesTest, AddressesThatCannotBeHeldThrow) {
    auto leases = dualStackSupernets();
    leases.pools = {pool("net", "198.18.0.0/24", {{address("198.18.0.0"), address("198.18.0.2")}})};
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0", loadError(leases));
    leases.pools = {
        pool("twice", "198.18.0.0/24",
             {{address("198.18.0.1"), address("198.18.0.5")}, {address("198.18.0.5"), address("198.18.0.6")}})};
    EXPECT_PRED_FORMAT2(IsSubstring, "twice", loadError(leases));
    leases.pools = {pool("outside", "198.18.0.0/24", {{address("198.18.9.1"), address("198.18.9.1")}})};
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.9.1", loadError(leases));
}

TEST_F(InconsistentLeasesTest, SubPoolOutsideItsPoolThrows) {
    // The codec refuses this in a file, but Leases reach the service from any LeaseStore: an
    // unchecked sub-pool makes allocate() hand out addresses outside the pool.
    auto leases = dualStackSupernets();
    leases.pools = {pool("ranged", "198.18.0.0/24")};
    leases.pools[0].subPool = prefix("198.18.5.0/25");
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.5.0/25", loadError(leases)) << "a sub-pool outside its pool must not load";
}

TEST_F(InconsistentLeasesTest, BadStoredOptionsThrow) {
    auto leases = dualStackSupernets();
    leases.pools = {pool("opts", "198.18.0.0/24")};
    leases.pools[0].options = {{std::string(kSerialOption), "maybe"}};
    EXPECT_PRED_FORMAT2(IsSubstring, "maybe", loadError(leases));
}

}  // namespace
}  // namespace gipam::ipam
