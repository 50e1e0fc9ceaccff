// IpamService: a swarm node's local copy of an overlay network (../shared/ipam-protocol.md §4.9).
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
using testing::kGateway;
using testing::prefix;
using ::testing::IsSubstring;

class SwarmCopyTest : public ::testing::Test {
protected:
    // The manager's side: a block from the supernet, its gateway and two tasks.
    PoolGrant requestGlobal() {
        log::setLevel(log::Level::Error);
        auto grant = service_.requestPool({std::string(kGlobalAddressSpace), "", "", {}, false});
        service_.requestAddress({grant.poolId, "", kGateway});
        service_.requestAddress({grant.poolId, "", {}});
        service_.requestAddress({grant.poolId, "", {}});
        return grant;
    }

    // The node's side: the same subnet in the local space, then the addresses the manager chose.
    PoolGrant requestCopy() {
        const auto copy =
            service_.requestPool({std::string(kLocalAddressSpace), global_.pool.toString(), "", {}, false});
        service_.requestAddress({copy.poolId, "198.18.0.1", kGateway});
        service_.requestAddress({copy.poolId, "198.18.0.2", {}});
        return copy;
    }

    FakeLeaseStore store_;
    IpamService service_{dualStackSupernets(), store_};
    PoolGrant global_ = requestGlobal();
};

TEST_F(SwarmCopyTest, NodeCopyIsGrantedWithItsOwnIdAndAddresses) {
    const auto copy = requestCopy();
    EXPECT_EQ(copy.poolId, "gipam-local/198.18.0.0/24");
    EXPECT_EQ(copy.pool, global_.pool);
    // The manager's pool goes on allocating where it was.
    EXPECT_EQ(service_.requestAddress({global_.poolId, "", {}}).address, address("198.18.0.4"));
    EXPECT_EQ(service_.snapshot(), store_.saves.back());
}

TEST_F(SwarmCopyTest, ReleasingTheCopyLeavesTheGlobalPoolAlone) {
    const auto copy = requestCopy();
    service_.releasePool(copy.poolId);
    const auto leases = service_.snapshot();
    ASSERT_EQ(leases.pools.size(), 1u);
    EXPECT_EQ(leases.pools[0].id, global_.poolId);
    EXPECT_EQ(leases.pools[0].addresses.size(), 1u);  // 198.18.0.1-3, one run
    // The block stays held: the next network gets another one.
    EXPECT_EQ(service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.1.0/24"));
}

TEST_F(SwarmCopyTest, BlockIsFreedByWhicheverSideIsReleasedLast) {
    const auto copy = requestCopy();
    service_.releasePool(global_.poolId);
    // The copy still uses the block, so nothing else may get it or overlap it.
    EXPECT_EQ(service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.1.0/24"));
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", ipamErrorOf([&] {
                            service_.requestPool({std::string(kLocalAddressSpace), "198.18.0.128/25", "", {}, false});
                        }));
    service_.releasePool(copy.poolId);
    EXPECT_EQ(service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.0.0/24"));
}

TEST_F(SwarmCopyTest, OtherOverlapsAreStillRefused) {
    const auto overlaps = [&](std::string_view space, const std::string& pool, const std::string& subPool = "") {
        return ipamErrorOf([&] { service_.requestPool({std::string(space), pool, subPool, {}, false}); });
    };
    // Same space, a sub- or super-prefix, or a second copy.
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", overlaps(kGlobalAddressSpace, "198.18.0.0/24"));
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", overlaps(kLocalAddressSpace, "198.18.0.0/25"));
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", overlaps(kLocalAddressSpace, "198.18.0.0/23"));
    requestCopy();
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", overlaps(kLocalAddressSpace, "198.18.0.0/24", "198.18.0.128/25"));
}

TEST_F(SwarmCopyTest, CopySurvivesARestartFromTheLeases) {
    const auto copy = requestCopy();
    FakeLeaseStore store(store_.saves.back());
    IpamService restarted(store_.saves.back(), store);
    EXPECT_EQ(restarted.snapshot(), service_.snapshot());
    restarted.releasePool(global_.poolId);
    // The block is still the copy's.
    EXPECT_EQ(restarted.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.1.0/24"));
    restarted.releasePool(copy.poolId);
    EXPECT_EQ(restarted.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.0.0/24"));
}

TEST_F(SwarmCopyTest, FailedWritesUndoCopiesAndReleasesInEitherOrder) {
    const auto copy = requestCopy();
    const auto before = service_.snapshot();
    store_.failing = true;
    EXPECT_FALSE(ipamErrorOf([&] { service_.releasePool(global_.poolId); }).empty());
    EXPECT_EQ(service_.snapshot(), before);
    EXPECT_FALSE(ipamErrorOf([&] { service_.releasePool(copy.poolId); }).empty());
    EXPECT_EQ(service_.snapshot(), before);
    store_.failing = false;
    // The links survived the undo: the block has its two holders, no third, and releasing both
    // frees it.
    EXPECT_PRED_FORMAT2(IsSubstring, "overlaps", ipamErrorOf([&] {
                            service_.requestPool({std::string(kGlobalAddressSpace), "198.18.0.0/24", "", {}, false});
                        }));
    service_.releasePool(global_.poolId);
    service_.releasePool(copy.poolId);
    EXPECT_EQ(service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).pool,
              prefix("198.18.0.0/24"));
}

}  // namespace
}  // namespace gipam::ipam
