// IpamService::releaseLeaked, what `gipam gc` releases with: only what cannot have changed hands
// since it was observed leaked.
#include <gtest/gtest.h>

#include "ipam/service.h"
#include "ipam/service_testing.h"
#include "log/log.h"

namespace gipam::ipam {
namespace {

using testing::address;
using testing::dualStackSupernets;
using testing::FakeLeaseStore;

class ReleaseLeakedTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::setLevel(log::Level::Error);
        pool_ = service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).poolId;
        for (int i = 0; i < 3; ++i) service_.requestAddress({pool_, "", {}});  // .1 .2 .3
    }
    bool held(std::string_view text) {
        const auto leases = service_.snapshot();
        for (const auto& run : leases.pools.at(0).addresses) {
            if (run.first <= address(text) && address(text) <= run.last) return true;
        }
        return false;
    }

    FakeLeaseStore store_;
    IpamService service_{dualStackSupernets(), store_};
    std::string pool_;
};

TEST_F(ReleaseLeakedTest, AnAddressHeldAllAlongIsReleasedAndSaved) {
    const auto observed = service_.observe();
    service_.requestAddress({pool_, "", {}});  // a grant elsewhere in the pool changes nothing
    const auto saves = store_.saves.size();
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.2", observed.change, observed.observationId));
    EXPECT_FALSE(held("198.18.0.2"));
    EXPECT_EQ(store_.saves.size(), saves + 1);
}

TEST_F(ReleaseLeakedTest, AnAddressReleasedAndGrantedAgainSinceTheLookIsKept) {
    const auto observed = service_.observe();
    // The leaked .2 goes free and a new container gets it: it is live now.
    service_.releaseAddress(pool_, "198.18.0.2");
    EXPECT_EQ(service_.requestAddress({pool_, "", {}}).address, address("198.18.0.2"));
    EXPECT_FALSE(service_.releaseLeaked(pool_, "198.18.0.2", observed.change, observed.observationId));
    EXPECT_TRUE(held("198.18.0.2"));
    // Observed again after that, it may go.
    const auto later = service_.observe();
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.2", later.change, later.observationId));
}

TEST_F(ReleaseLeakedTest, APoolMadeAgainSinceTheLookIsKept) {
    const auto observed = service_.observe();
    service_.releasePool(pool_);
    const auto again = service_.requestPool({std::string(kLocalAddressSpace), "", "", {}, false}).poolId;
    ASSERT_EQ(again, pool_);  // the same block, the same ID: a new network
    EXPECT_FALSE(service_.releaseLeaked(pool_, "", observed.change, observed.observationId));
    EXPECT_EQ(service_.snapshot().pools.size(), 1u);
    const auto later = service_.observe();
    EXPECT_TRUE(service_.releaseLeaked(pool_, "", later.change, later.observationId));
    EXPECT_TRUE(service_.snapshot().pools.empty());
}

TEST_F(ReleaseLeakedTest, OneRunReleasesEveryLeakOfAPool) {
    const auto observed = service_.observe();
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.2", observed.change, observed.observationId));
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.3", observed.change, observed.observationId))
        << "the run's own release counted against it";
}

TEST_F(ReleaseLeakedTest, AnotherRunsReleaseCountsLikeAnyOther) {
    const auto older = service_.observe();  // a second gc run, started earlier
    const auto run = service_.observe();
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.2", run.change, run.observationId));
    // .2 goes to a new container; the older run still thinks it leaked.
    EXPECT_EQ(service_.requestAddress({pool_, "", {}}).address, address("198.18.0.2"));
    EXPECT_FALSE(service_.releaseLeaked(pool_, "198.18.0.2", older.change, older.observationId));
    EXPECT_TRUE(held("198.18.0.2"));
    // And after the other run's release, its own releases in that pool stand on their own again.
    EXPECT_TRUE(service_.releaseLeaked(pool_, "198.18.0.3", run.change, run.observationId));
}

TEST_F(ReleaseLeakedTest, NothingToReleaseIsNotAnError) {
    const auto observed = service_.observe();
    EXPECT_FALSE(service_.releaseLeaked(pool_, "198.18.0.77", observed.change, observed.observationId));
    EXPECT_FALSE(service_.releaseLeaked("gipam-local/198.19.0.0/24", "", observed.change, observed.observationId));
}

}  // namespace
}  // namespace gipam::ipam
