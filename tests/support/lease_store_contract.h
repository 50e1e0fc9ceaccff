// The LeaseStore contract, written once and run against every backend (the shape of Kea's
// GenericLeaseMgrTest): the lease file's SnapshotStore and the fake cluster in the unit tests,
// ClusterStore on a real etcd in the integration tests. Each instantiates it with a factory.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "store/lease_store.h"

namespace gipam::testing {

/// One backend under test: its store, and what a restart of it finds.
class StoreBackend {
public:
    virtual ~StoreBackend() = default;
    virtual store::LeaseStore& store() = 0;
    /// The leases a restart would read (its lease file).
    virtual store::Leases persisted() = 0;
};

struct NamedBackend {
    std::string name;
    std::function<std::unique_ptr<StoreBackend>(const store::Leases& initial)> make;
};

inline void PrintTo(const NamedBackend& backend, std::ostream* out) { *out << backend.name; }

inline std::string backendName(const ::testing::TestParamInfo<NamedBackend>& info) { return info.param.name; }

class LeaseStoreContract : public ::testing::TestWithParam<NamedBackend> {
protected:
    const store::Leases kInitial{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};

    void SetUp() override { backend_ = GetParam().make(kInitial); }

    // Commits `change` as the IPAM service does (under its lock); "" or the error, and whether
    // the undo ran. Checks that commit returns with the lock released.
    std::string commit(const store::Change& change, bool* undone = nullptr) {
        std::unique_lock lock(mutex_);
        bool ran = false;
        std::string error;
        try {
            backend_->store().commit(lock, change, [&] { ran = true; },
                                     std::chrono::steady_clock::now() + std::chrono::seconds(5));
        } catch (const store::StoreError& failure) {
            error = failure.what();
            if (error.empty()) error = "(empty message)";
        }
        EXPECT_FALSE(lock.owns_lock()) << "commit returned with the lock held";
        if (undone) *undone = ran;
        return error;
    }

    static store::CreatePool pool(const std::string& cidr) {
        const auto prefix = ip::Prefix::parse(cidr);
        return {{"gipam-local/" + cidr, prefix, std::nullopt, {}, std::nullopt, {}, {}}, {}};
    }
    static store::ReserveAddress reserve(const std::string& cidr, const std::string& address) {
        return {"gipam-local/" + cidr, ip::Address::parse(address), std::nullopt, std::nullopt};
    }
    static store::FreeAddress freeing(const std::string& cidr, const std::string& address) {
        return {"gipam-local/" + cidr, ip::Address::parse(address), std::nullopt};
    }
    const store::PoolRecord* find(const store::Leases& leases, const std::string& id) {
        for (const auto& record : leases.pools) {
            if (record.id == id) {
                found_ = record;
                return &found_;
            }
        }
        return nullptr;
    }

    std::mutex mutex_;
    std::unique_ptr<StoreBackend> backend_;
    store::PoolRecord found_{"", ip::Prefix::parse("0.0.0.0/0"), {}, {}, {}, {}, {}};
};

TEST_P(LeaseStoreContract, ACommittedChangeIsFoundByARestart) {
    EXPECT_EQ(commit(pool("198.18.4.0/24")), "");
    EXPECT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.1")), "");
    EXPECT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.2")), "");
    const auto* stored = find(backend_->persisted(), "gipam-local/198.18.4.0/24");
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->prefix, ip::Prefix::parse("198.18.4.0/24"));
    ASSERT_EQ(stored->addresses.size(), 1u);
    EXPECT_EQ(stored->addresses[0].last, ip::Address::parse("198.18.4.2"));
    EXPECT_EQ(commit(freeing("198.18.4.0/24", "198.18.4.1")), "");
    EXPECT_EQ(find(backend_->persisted(), "gipam-local/198.18.4.0/24")->addresses[0].first,
              ip::Address::parse("198.18.4.2"));
    EXPECT_EQ(commit(store::DeletePool{"gipam-local/198.18.4.0/24"}), "");
    EXPECT_EQ(find(backend_->persisted(), "gipam-local/198.18.4.0/24"), nullptr);
}

TEST_P(LeaseStoreContract, AReleaseUnderAReuseDelayKeepsItsTimeUntilTheAddressIsHeldAgain) {
    ASSERT_EQ(commit(pool("198.18.4.0/24")), "");
    ASSERT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.1")), "");
    ASSERT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.2")), "");
    const auto until = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796652300123));
    auto cooling = freeing("198.18.4.0/24", "198.18.4.1");
    cooling.coolUntil = until;
    ASSERT_EQ(commit(cooling), "");
    const auto* stored = find(backend_->persisted(), "gipam-local/198.18.4.0/24");
    ASSERT_NE(stored, nullptr);
    ASSERT_EQ(stored->cooling.size(), 1u);
    EXPECT_EQ(stored->cooling[0].address, ip::Address::parse("198.18.4.1"));
    EXPECT_EQ(stored->cooling[0].until, until);
    ASSERT_EQ(stored->addresses.size(), 1u);
    EXPECT_EQ(stored->addresses[0].first, ip::Address::parse("198.18.4.2"));
    ASSERT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.1")), "");
    stored = find(backend_->persisted(), "gipam-local/198.18.4.0/24");
    ASSERT_NE(stored, nullptr);
    EXPECT_TRUE(stored->cooling.empty());
}

TEST_P(LeaseStoreContract, AChangeWhosePreconditionFailsIsUndoneAndChangesNothing) {
    ASSERT_EQ(commit(pool("198.18.4.0/24")), "");
    ASSERT_EQ(commit(reserve("198.18.4.0/24", "198.18.4.1")), "");
    const auto before = backend_->persisted();
    bool undone = false;
    EXPECT_NE(commit(pool("198.18.4.0/24"), &undone), "") << "the same pool twice";
    EXPECT_TRUE(undone);
    undone = false;
    EXPECT_NE(commit(reserve("198.18.4.0/24", "198.18.4.1"), &undone), "") << "an address held";
    EXPECT_TRUE(undone);
    undone = false;
    EXPECT_NE(commit(freeing("198.18.4.0/24", "198.18.4.9"), &undone), "") << "an address not held";
    EXPECT_TRUE(undone);
    undone = false;
    EXPECT_NE(commit(store::DeletePool{"gipam-local/198.18.99.0/24"}, &undone), "") << "an unknown pool";
    EXPECT_TRUE(undone);
    undone = false;
    EXPECT_NE(commit(reserve("198.18.99.0/24", "198.18.99.1"), &undone), "") << "an address of an unknown pool";
    EXPECT_TRUE(undone);
    EXPECT_EQ(backend_->persisted(), before);
}

TEST_P(LeaseStoreContract, ChangesFromManyThreadsAllArrive) {
    ASSERT_EQ(commit(pool("198.18.4.0/24")), "");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 1; i <= 16; ++i) {
                EXPECT_EQ(commit(reserve("198.18.4.0/24", "198.18.4." + std::to_string(t * 16 + i))), "");
            }
        });
    }
    for (auto& thread : threads) thread.join();
    const auto* stored = find(backend_->persisted(), "gipam-local/198.18.4.0/24");
    ASSERT_NE(stored, nullptr);
    ASSERT_EQ(stored->addresses.size(), 1u);
    EXPECT_EQ(stored->addresses[0].first, ip::Address::parse("198.18.4.1"));
    EXPECT_EQ(stored->addresses[0].last, ip::Address::parse("198.18.4.64"));
}

}  // namespace gipam::testing
