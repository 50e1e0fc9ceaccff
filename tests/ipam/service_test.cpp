// IpamService: Docker's pool and address requests. Saving and loading: service_persistence_test.cpp.
#include "ipam/service.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "ipam/pool_options.h"
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

class IpamServiceTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }

    PoolGrant requestPool(std::string pool = "", bool v6 = false, Options options = {}, std::string subPool = "") {
        return service_.requestPool({std::string(kLocalAddressSpace), pool, subPool, options, v6});
    }
    std::string poolError(std::string pool, bool v6 = false, Options options = {}, std::string subPool = "") {
        return ipamErrorOf([&] { requestPool(pool, v6, options, subPool); });
    }
    AddressGrant requestAddress(const std::string& poolId, std::string address = "", Options options = {}) {
        return service_.requestAddress({poolId, address, options});
    }
    std::string addressError(const std::string& poolId, std::string address) {
        return ipamErrorOf([&] { requestAddress(poolId, address); });
    }

    FakeLeaseStore store_;
    IpamService service_{dualStackSupernets(), store_};
};

TEST_F(IpamServiceTest, ExcludedAddressesAreNeverHandedOutAndRefusedByValueNamingTheExclusion) {
    const Options options{{std::string(kExcludeOption), "198.18.40.0/25,198.18.40.200-198.18.40.254,2001:db8:40::/120"}};
    const auto v4 = requestPool("198.18.40.0/24", false, options);
    const auto v6 = requestPool("2001:db8:40::/64", true, options);  // Docker sends the options with both
    // The gateway by value (a LAN's router) may lie in an exclusion; nothing else may.
    EXPECT_EQ(requestAddress(v4.poolId, "198.18.40.1", {{std::string(kRequestAddressType), std::string(kGatewayType)}})
                  .address,
              ip::Address::parse("198.18.40.1"));
    std::set<ip::Address> handed;
    for (int i = 0; i < 72; ++i) handed.insert(requestAddress(v4.poolId).address);
    EXPECT_EQ(handed.size(), 72u);
    EXPECT_EQ(*handed.begin(), ip::Address::parse("198.18.40.128"));
    EXPECT_EQ(*handed.rbegin(), ip::Address::parse("198.18.40.199"));
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "no free", ipamErrorOf([&] { requestAddress(v4.poolId); }));
    const auto refused = addressError(v4.poolId, "198.18.40.210");
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.40.210 is excluded", refused);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.40.200-198.18.40.254", refused);
    EXPECT_EQ(requestAddress(v6.poolId).address, ip::Address::parse("2001:db8:40::100"));

    // Kept with the pool's options: a restart from the saved leases keeps them.
    FakeLeaseStore again(service_.snapshot());
    IpamService restarted(service_.snapshot(), again);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "is excluded",
                        ipamErrorOf([&] { restarted.requestAddress({v4.poolId, "198.18.40.5", {}}); }));
    restarted.releaseAddress(v4.poolId, "198.18.40.150");
    EXPECT_EQ(restarted.requestAddress({v4.poolId, "", {}}).address, ip::Address::parse("198.18.40.150"));
}

TEST_F(IpamServiceTest, GipamsExclusionsSkipBlocksAndAreNeverHandedOutInAPoolAskedForOverThem) {
    auto leases = dualStackSupernets();
    leases.excluded = {{ip::Address::parse("198.18.0.0"), ip::Address::parse("198.18.0.15")},
                       {ip::Address::parse("198.18.1.0"), ip::Address::parse("198.18.1.255")}};
    FakeLeaseStore store(leases);
    IpamService service(leases, store);
    const auto request = [&](std::string pool) {
        return service.requestPool({std::string(kLocalAddressSpace), std::move(pool), "", {}, false});
    };
    EXPECT_EQ(request("").pool, ip::Prefix::parse("198.18.2.0/24"));
    // Asked for by subnet: granted, and its excluded addresses are still never handed out.
    const auto over = request("198.18.0.0/24");
    EXPECT_EQ(service.requestAddress({over.poolId, "", kGateway}).address, ip::Address::parse("198.18.0.16"));
    EXPECT_EQ(service.requestAddress({over.poolId, "", {}}).address, ip::Address::parse("198.18.0.17"));
    const auto refused = ipamErrorOf([&] { service.requestAddress({over.poolId, "198.18.0.9", {}}); });
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "198.18.0.9 is excluded from pool gipam-local/198.18.0.0/24 "
                                                "(--exclude 198.18.0.0/28)", refused);
    // Its block goes back to the exclusion with it.
    service.releasePool(over.poolId);
    EXPECT_EQ(request("").pool, ip::Prefix::parse("198.18.3.0/24"));
    EXPECT_EQ(service.snapshot().excluded, leases.excluded);
    FakeLeaseStore again(service.snapshot());
    IpamService restarted(service.snapshot(), again);
    EXPECT_EQ(restarted.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              ip::Prefix::parse("198.18.4.0/24"));
}

TEST_F(IpamServiceTest, AnExclusionOutsideTheSubnetIsRefusedAndChangesNothing) {
    const auto refused = poolError("198.18.41.0/24", false, {{std::string(kExcludeOption), "198.18.42.0/28"}});
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not inside subnet 198.18.41.0/24", refused);
    EXPECT_TRUE(service_.snapshot().pools.empty());
}

TEST_F(IpamServiceTest, DynamicPoolsAreLowestFirstAndDistinctPerFamily) {
    const auto v4a = requestPool();
    const auto v4b = requestPool();
    const auto v6a = requestPool("", true);
    const auto v6b = requestPool("", true);
    EXPECT_EQ(v4a.pool, prefix("198.18.0.0/24"));
    EXPECT_EQ(v4b.pool, prefix("198.18.1.0/24"));
    EXPECT_EQ(v6a.pool, prefix("2001:db8:100::/64"));
    EXPECT_EQ(v6b.pool, prefix("2001:db8:100:1::/64"));
    EXPECT_EQ(v4a.poolId, "gipam-local/198.18.0.0/24");
    EXPECT_NE(v4a.poolId, v4b.poolId);
}

TEST_F(IpamServiceTest, EveryGrantIsSavedBeforeItIsReturned) {
    const auto grant = requestPool();
    ASSERT_EQ(store_.saves.size(), 1u);
    EXPECT_EQ(store_.saves.back(), service_.snapshot());
    ASSERT_EQ(store_.saves.back().pools.size(), 1u);
    EXPECT_EQ(store_.saves.back().pools[0].prefix, grant.pool);
    requestAddress(grant.poolId);
    EXPECT_EQ(store_.saves.size(), 2u);
    EXPECT_EQ(store_.saves.back(), service_.snapshot());
}

TEST_F(IpamServiceTest, StaticSubnetIsGrantedExactly) {
    const auto grant = requestPool("198.19.7.0/24");
    EXPECT_EQ(grant.pool, prefix("198.19.7.0/24"));
    EXPECT_EQ(grant.poolId, "gipam-local/198.19.7.0/24");
    EXPECT_EQ(requestPool("2001:db8:200::/64", true).pool, prefix("2001:db8:200::/64"));
}

TEST_F(IpamServiceTest, GlobalAddressSpaceIsServedToo) {
    const auto grant = service_.requestPool({std::string(kGlobalAddressSpace), "", "", {}, false});
    EXPECT_EQ(grant.poolId, "gipam-global/198.18.0.0/24");
}

TEST_F(IpamServiceTest, UnknownAddressSpaceIsRefused) {
    const auto message = ipamErrorOf([&] { service_.requestPool({"default", "", "", {}, false}); });
    EXPECT_PRED_FORMAT2(IsSubstring, "'default'", message);
    EXPECT_TRUE(store_.saves.empty());
}

TEST_F(IpamServiceTest, OverlappingSubnetIsRefusedNamingBothPrefixes) {
    const auto first = requestPool("198.19.4.0/24");
    for (const char* overlapping : {"198.19.4.0/24", "198.19.4.128/25", "198.19.0.0/21"}) {
        const auto message = poolError(overlapping);
        EXPECT_PRED_FORMAT2(IsSubstring, overlapping, message);
        EXPECT_PRED_FORMAT2(IsSubstring, "198.19.4.0/24", message);
    }
    EXPECT_EQ(store_.saves.size(), 1u);
}

TEST_F(IpamServiceTest, SubnetOverlappingADynamicBlockIsRefused) {
    requestPool();
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/24", poolError("198.18.0.64/26"));
}

TEST_F(IpamServiceTest, SameSubnetWithDifferentIpRangesIsRefused) {
    requestPool("198.19.4.0/24", false, {}, "198.19.4.0/25");
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", poolError("198.19.4.0/24", false, {}, "198.19.4.128/25"));
}

TEST_F(IpamServiceTest, SubnetWithHostBitsIsRefusedNamingTheCanonicalPrefix) {
    EXPECT_PRED_FORMAT2(IsSubstring, "did you mean 198.19.4.0/24?", poolError("198.19.4.1/24"));
    EXPECT_PRED_FORMAT2(IsSubstring, "banana", poolError("banana"));
}

TEST_F(IpamServiceTest, SubnetDecidesTheFamily) {
    // swarmkit sends V6 false for IPv6 subnets too.
    EXPECT_EQ(requestPool("2001:db8:200::/64", false).pool, prefix("2001:db8:200::/64"));
    EXPECT_EQ(requestPool("198.19.4.0/24", true).pool, prefix("198.19.4.0/24"));
}

TEST_F(IpamServiceTest, EmptyAddressSpaceIsTheLocalOne) {
    // dockerd 20.10 keeps the Go gipam's empty names until it restarts.
    const auto grant = service_.requestPool({"", "", "", {}, false});
    EXPECT_EQ(grant.poolId, "gipam-local/198.18.0.0/24");
}

TEST_F(IpamServiceTest, OptionsBeyondTheLimitsAreRefusedNamingTheLimit) {
    Options many;
    for (std::size_t i = 0; i <= kMaxOptions; ++i) many["key" + std::to_string(i)] = "v";
    EXPECT_PRED_FORMAT2(IsSubstring, "at most 32", poolError("", false, many));
    EXPECT_PRED_FORMAT2(IsSubstring, "at most 128",
                        poolError("", false, {{std::string(kMaxOptionKeyBytes + 1, 'k'), "v"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "values of at most 1024",
                        poolError("", false, {{"big", std::string(kMaxOptionValueBytes + 1, 'v')}}));
    EXPECT_TRUE(store_.saves.empty());
    requestPool("", false, {{std::string(kMaxOptionKeyBytes, 'k'), std::string(kMaxOptionValueBytes, 'v')}});
}

TEST_F(IpamServiceTest, IpRangeOutsideTheSubnetIsRefused) {
    const auto message = poolError("198.19.4.0/24", false, {}, "198.19.5.0/25");
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.5.0/25", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.4.0/24", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.0.0/16", poolError("198.19.4.0/24", false, {}, "198.19.0.0/16"));
}

TEST_F(IpamServiceTest, IpRangeNeedsASubnet) {
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.4.0/25", poolError("", false, {}, "198.18.4.0/25"));
}

TEST_F(IpamServiceTest, IpRangeGivesItsOwnPoolId) {
    const auto grant = requestPool("198.19.10.0/24", false, {}, "198.19.10.128/25");
    EXPECT_EQ(grant.pool, prefix("198.19.10.0/24"));
    EXPECT_EQ(grant.poolId, "gipam-local/198.19.10.0/24/198.19.10.128/25");
}

TEST_F(IpamServiceTest, StaticSubnetInsideTheSupernetIsCarvedOut) {
    requestPool("198.18.0.0/24");
    requestPool("198.18.2.0/23");
    EXPECT_EQ(requestPool().pool, prefix("198.18.1.0/24"));
    EXPECT_EQ(requestPool().pool, prefix("198.18.4.0/24"));
}

TEST_F(IpamServiceTest, ReleasedStaticSubnetReturnsItsBlockToTheSupernet) {
    const auto grant = requestPool("198.18.0.0/24");
    service_.releasePool(grant.poolId);
    EXPECT_EQ(requestPool().pool, prefix("198.18.0.0/24"));
}

TEST_F(IpamServiceTest, SubnetCoveringTheWholeSupernetIsRefused) {
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", poolError("198.18.0.0/16"));
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", poolError("198.16.0.0/14"));
    EXPECT_PRED_FORMAT2(IsSubstring, "2001:db8:100::/56", poolError("2001:db8::/32", true));
    EXPECT_FALSE(poolError("0.0.0.0/0").empty());
    EXPECT_TRUE(store_.saves.empty());
}

TEST_F(IpamServiceTest, AllZeroSubnetMeansABlockOfThatSize) {
    EXPECT_EQ(requestPool("0.0.0.0/26").pool, prefix("198.18.0.0/26"));
    EXPECT_EQ(requestPool().pool, prefix("198.18.1.0/24"));
    EXPECT_EQ(requestPool("0.0.0.0/26").pool, prefix("198.18.0.64/26"));
    EXPECT_EQ(requestPool("::/60", true).pool, prefix("2001:db8:100::/60"));
}

TEST_F(IpamServiceTest, AllZeroSubnetThatCannotFitIsRefused) {
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", poolError("0.0.0.0/8"));
    EXPECT_FALSE(poolError("0.0.0.0/31").empty());
}

TEST_F(IpamServiceTest, BlockLengthOptionsChooseTheBlockSize) {
    EXPECT_EQ(requestPool("", false, {{"v4ab", "26"}}).pool, prefix("198.18.0.0/26"));
    EXPECT_EQ(requestPool("", true, {{"v6ab", "60"}}).pool, prefix("2001:db8:100::/60"));
    // Each family reads only its own option.
    EXPECT_EQ(requestPool("", false, {{"v6ab", "60"}}).pool, prefix("198.18.1.0/24"));
}

TEST_F(IpamServiceTest, BlockLengthOptionThatDoesNotFitIsRefused) {
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", poolError("", false, {{"v4ab", "16"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/16", poolError("", false, {{"v4ab", "8"}}));
}

TEST_F(IpamServiceTest, BadOptionValuesAreRefusedNamingThem) {
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab=abc", poolError("", false, {{"v4ab", "abc"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v4ab=31", poolError("", false, {{"v4ab", "31"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "v6ab=127", poolError("", true, {{"v6ab", "127"}}));
    EXPECT_PRED_FORMAT2(IsSubstring, "yes", poolError("", false, {{std::string(kSerialOption), "yes"}}));
    EXPECT_TRUE(store_.saves.empty());
}

TEST_F(IpamServiceTest, UnknownOptionsAreKeptWithThePool) {
    const Options options{{"com.example.team", "blue"}, {"v4ab", "25"}};
    requestPool("", false, options);
    ASSERT_EQ(service_.snapshot().pools.size(), 1u);
    EXPECT_EQ(service_.snapshot().pools[0].options, options);
}

TEST_F(IpamServiceTest, SerialOptionHandsAddressesOutRoundRobin) {
    const auto serial = requestPool("", false, {{std::string(kSerialOption), "true"}});
    EXPECT_EQ(requestAddress(serial.poolId).address, address("198.18.0.1"));
    EXPECT_EQ(requestAddress(serial.poolId).address, address("198.18.0.2"));
    service_.releaseAddress(serial.poolId, "198.18.0.1");
    EXPECT_EQ(requestAddress(serial.poolId).address, address("198.18.0.3"));

    const auto plain = requestPool("", false, {{std::string(kSerialOption), "false"}});
    requestAddress(plain.poolId);
    service_.releaseAddress(plain.poolId, "198.18.1.1");
    EXPECT_EQ(requestAddress(plain.poolId).address, address("198.18.1.1"));
}

TEST_F(IpamServiceTest, GatewayGetsTheFirstHostEvenOutsideTheIpRange) {
    const auto grant = requestPool("198.19.10.0/24", false, {}, "198.19.10.128/25");
    const auto gateway = requestAddress(grant.poolId, "", kGateway);
    EXPECT_EQ(gateway.toString(), "198.19.10.1/24");
    EXPECT_EQ(requestAddress(grant.poolId).toString(), "198.19.10.128/24");
}

TEST_F(IpamServiceTest, AddressesCarryThePoolLength) {
    const auto v6 = requestPool("", true);
    EXPECT_EQ(requestAddress(v6.poolId, "", kGateway).toString(), "2001:db8:100::1/64");
    EXPECT_EQ(requestAddress(v6.poolId).toString(), "2001:db8:100::2/64");
}

TEST_F(IpamServiceTest, SpecificAddressIsGrantedExactlyAnywhereInThePool) {
    const auto grant = requestPool("198.19.10.0/24", false, {}, "198.19.10.128/25");
    EXPECT_EQ(requestAddress(grant.poolId, "198.19.10.200").toString(), "198.19.10.200/24");
    EXPECT_EQ(requestAddress(grant.poolId, "198.19.10.5").toString(), "198.19.10.5/24");
}

TEST_F(IpamServiceTest, SpecificAddressThatCannotBeGrantedIsRefusedNamingIt) {
    const auto id = requestPool("198.19.10.0/24").poolId;
    requestAddress(id, "198.19.10.7");
    const auto saves = store_.saves.size();
    const auto held = addressError(id, "198.19.10.7");
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.10.7", held);
    EXPECT_PRED_FORMAT2(IsSubstring, "already allocated", held);
    EXPECT_PRED_FORMAT2(IsSubstring, id, held);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.11.7", addressError(id, "198.19.11.7"));
    EXPECT_PRED_FORMAT2(IsSubstring, "network address", addressError(id, "198.19.10.0"));
    EXPECT_PRED_FORMAT2(IsSubstring, "broadcast address", addressError(id, "198.19.10.255"));
    EXPECT_PRED_FORMAT2(IsSubstring, "IPv6", addressError(id, "2001:db8:100::7"));
    EXPECT_PRED_FORMAT2(IsSubstring, "banana", addressError(id, "banana"));
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.10.9/24", addressError(id, "198.19.10.9/24"));
    EXPECT_EQ(store_.saves.size(), saves);
}

TEST_F(IpamServiceTest, FullPoolIsRefusedNamingIt) {
    const auto id = requestPool("198.19.10.0/30").poolId;
    requestAddress(id);
    requestAddress(id);
    const auto message = addressError(id, "");
    EXPECT_PRED_FORMAT2(IsSubstring, "no free IPv4 address", message);
    EXPECT_PRED_FORMAT2(IsSubstring, id, message);
}

TEST_F(IpamServiceTest, ReleasePoolFreesAllItsAddressesAndItsBlock) {
    const auto grant = requestPool();
    requestAddress(grant.poolId, "", kGateway);
    requestAddress(grant.poolId);
    requestAddress(grant.poolId, "198.18.0.77");
    service_.releasePool(grant.poolId);
    EXPECT_TRUE(service_.snapshot().pools.empty());
    EXPECT_EQ(store_.saves.back(), service_.snapshot());
    const auto again = requestPool();
    EXPECT_EQ(again.pool, grant.pool);
    EXPECT_EQ(requestAddress(again.poolId).address, address("198.18.0.1"));
    EXPECT_EQ(requestAddress(again.poolId, "198.18.0.77").address, address("198.18.0.77"));
}

TEST_F(IpamServiceTest, ReleaseAddressMakesItAvailableAgain) {
    const auto id = requestPool().poolId;
    requestAddress(id);
    requestAddress(id);
    service_.releaseAddress(id, "198.18.0.1");
    EXPECT_EQ(store_.saves.back(), service_.snapshot());
    EXPECT_EQ(requestAddress(id).address, address("198.18.0.1"));
}

TEST_F(IpamServiceTest, ReleaseAddressIsIdempotentAndDoesNotSave) {
    const auto id = requestPool().poolId;
    const auto saves = store_.saves.size();
    EXPECT_NO_THROW(service_.releaseAddress(id, "198.18.0.9"));
    EXPECT_NO_THROW(service_.releaseAddress(id, "198.19.0.9"));
    EXPECT_EQ(store_.saves.size(), saves);
}

TEST_F(IpamServiceTest, ReleaseAddressOfGarbageIsRefused) {
    const auto id = requestPool().poolId;
    EXPECT_PRED_FORMAT2(IsSubstring, "banana", ipamErrorOf([&] { service_.releaseAddress(id, "banana"); }));
}

TEST_F(IpamServiceTest, UnknownPoolIdIsRefused) {
    const std::string id = "gipam-local/198.18.99.0/24";
    EXPECT_PRED_FORMAT2(IsSubstring, id, addressError(id, ""));
    EXPECT_PRED_FORMAT2(IsSubstring, id, ipamErrorOf([&] { service_.releasePool(id); }));
    EXPECT_PRED_FORMAT2(IsSubstring, id, ipamErrorOf([&] { service_.releaseAddress(id, "198.18.99.1"); }));
    const auto grant = requestPool();
    service_.releasePool(grant.poolId);
    EXPECT_PRED_FORMAT2(IsSubstring, grant.poolId, ipamErrorOf([&] { service_.releasePool(grant.poolId); }));
}

TEST_F(IpamServiceTest, ExhaustedSupernetNamesItAndItsBlockCount) {
    const store::Leases leases{store::Supernet{prefix("198.18.0.0/22"), 24}, std::nullopt, {}};
    FakeLeaseStore store(leases);
    IpamService small(leases, store);
    for (int i = 0; i < 4; ++i) small.requestPool({"gipam-local", "", "", {}, false});
    const auto message = ipamErrorOf([&] { small.requestPool({"gipam-local", "", "", {}, false}); });
    EXPECT_PRED_FORMAT2(IsSubstring, "198.18.0.0/22", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "/24", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "4", message);
    EXPECT_EQ(store.saves.size(), 4u);
}

TEST_F(IpamServiceTest, MissingSupernetForAFamilyIsAClearError) {
    const store::Leases leases{store::Supernet{prefix("198.18.0.0/16"), 24}, std::nullopt, {}};
    FakeLeaseStore store(leases);
    IpamService v4only(leases, store);
    const auto message = ipamErrorOf([&] { v4only.requestPool({"gipam-local", "", "", {}, true}); });
    EXPECT_PRED_FORMAT2(IsSubstring, "IPv6", message);
    EXPECT_PRED_FORMAT2(IsSubstring, "-v6", message);
    EXPECT_FALSE(ipamErrorOf([&] { v4only.requestPool({"gipam-local", "::/64", "", {}, true}); }).empty());
    // An explicit subnet needs no supernet.
    EXPECT_EQ(v4only.requestPool({"gipam-local", "2001:db8:200::/64", "", {}, true}).pool, prefix("2001:db8:200::/64"));
}

TEST_F(IpamServiceTest, ConcurrentRequestsGetDistinctAddresses) {
    const auto id = requestPool("198.19.0.0/20").poolId;
    std::vector<std::vector<ip::Address>> granted(4);
    std::vector<std::thread> threads;
    for (auto& mine : granted) {
        threads.emplace_back([&] {
            for (int i = 0; i < 250; ++i) mine.push_back(requestAddress(id).address);
        });
    }
    for (auto& thread : threads) thread.join();
    std::set<ip::Address> all;
    for (const auto& mine : granted) all.insert(mine.begin(), mine.end());
    EXPECT_EQ(all.size(), 1000u);
    EXPECT_EQ(*all.begin(), address("198.19.0.1"));
    EXPECT_EQ(*all.rbegin(), address("198.19.3.232"));
}

}  // namespace
}  // namespace gipam::ipam
