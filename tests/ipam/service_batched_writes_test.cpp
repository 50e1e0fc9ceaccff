// IpamService over a store that batches writes (SnapshotStore's group commit): requests queued
// behind a write in flight share the next write, and nobody is answered before the write holding
// their change is done.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ipam/service.h"
#include "ipam/service_testing.h"
#include "log/log.h"

namespace gipam::ipam {
namespace {

using namespace std::chrono_literals;
using testing::address;
using testing::prefix;

constexpr auto kPatience = 10s;  // a hung test fails instead of blocking the suite

// Each save waits until the test lets it through, so a test can hold a write in flight.
class GatedLeaseStore : public store::SnapshotStore {
public:
    explicit GatedLeaseStore(const store::Leases& initial)
        : SnapshotStore(initial, [this](const store::Leases& leases) { save(leases); }) {}

    void save(const store::Leases& leases) {
        std::unique_lock lock(mutex_);
        const int number = ++started_;
        changed_.notify_all();
        if (!changed_.wait_for(lock, kPatience, [&] { return allowed_ >= number; })) {
            throw store::StoreError("the test never let save " + std::to_string(number) + " through");
        }
        if (failing_.count(number)) throw store::StoreError("cannot write leases.json.tmp: No space left on device");
        saves_.push_back(leases);
    }

    // Lets save `number` (counted from 1) finish; with `fail`, it throws like a full disk.
    void allow(int number, bool fail = false) {
        std::lock_guard lock(mutex_);
        if (fail) failing_.insert(number);
        allowed_ = number;
        changed_.notify_all();
    }
    bool waitUntilStarted(int number) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, kPatience, [&] { return started_ >= number; });
    }
    std::vector<store::Leases> saves() {
        std::lock_guard lock(mutex_);
        return saves_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int started_ = 0;
    int allowed_ = 0;
    std::set<int> failing_;
    std::vector<store::Leases> saves_;
};

std::size_t heldIn(const store::Leases& leases) {
    std::size_t held = 0;
    for (const auto& pool : leases.pools) {
        for (const auto& run : pool.addresses) held += static_cast<std::size_t>(run.last.value() - run.first.value() + 1);
    }
    return held;
}

class ServiceBatchedWritesTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::setLevel(log::Level::Error);
        store_.allow(1);
        poolId_ = service_.requestPool({std::string(kLocalAddressSpace), "198.19.0.0/24", "", {}, false}).poolId;
    }

    // One caller's RequestAddress on its own thread; `done` is set when it has its answer.
    struct Caller {
        ~Caller() {
            if (thread.joinable()) thread.join();  // after a failed assertion; saves give up in time
        }
        std::thread thread;
        std::atomic<bool> done = false;
        std::string error;
    };
    // `change` on the caller's thread (by default a RequestAddress in the test's pool).
    void start(Caller& caller, std::function<void()> change = {}) {
        if (!change) change = [this] { service_.requestAddress({poolId_, "", {}}); };
        caller.thread = std::thread([&caller, change] {
            caller.error = testing::ipamErrorOf(change);
            caller.done = true;
        });
    }
    template <typename Predicate>
    bool waitUntil(Predicate ready) {
        const auto deadline = std::chrono::steady_clock::now() + kPatience;
        while (!ready()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }
    // Waits until `count` addresses are held in memory, written or not.
    bool waitUntilHeld(std::size_t count) {
        return waitUntil([&] { return heldIn(service_.snapshot()) >= count; });
    }
    // Starts `change` and waits until it is in memory (not yet written), so that the changes of
    // a batch are made in a known order.
    void queue(Caller& caller, std::function<void()> change) {
        const auto before = service_.snapshot();
        start(caller, std::move(change));
        ASSERT_TRUE(waitUntil([&] { return service_.snapshot() != before; })) << "the change never reached memory";
    }

    // `first` starts a write (save 2) that is held; three callers queue behind it; then the
    // write finishes, `first` has its answer and the next write (save 3) is held in flight.
    void queueThreeBehindAWrite(Caller& first, Caller (&queued)[3]) {
        start(first);
        ASSERT_TRUE(store_.waitUntilStarted(2));
        for (auto& caller : queued) start(caller);
        ASSERT_TRUE(waitUntilHeld(4));
        store_.allow(2);
        first.thread.join();
        EXPECT_EQ(first.error, "");
        ASSERT_TRUE(store_.waitUntilStarted(3));
    }

    const store::Leases supernets_{store::Supernet{prefix("198.18.0.0/16"), 24}, std::nullopt, {}};
    GatedLeaseStore store_{supernets_};
    IpamService service_{supernets_, store_};
    std::string poolId_;
};

TEST_F(ServiceBatchedWritesTest, ChangesQueuedBehindAWriteShareTheNextAndWaitForIt) {
    Caller first, queued[3];
    ASSERT_NO_FATAL_FAILURE(queueThreeBehindAWrite(first, queued));
    for (const auto& caller : queued) EXPECT_FALSE(caller.done) << "answered before its change was written";

    store_.allow(3);
    for (auto& caller : queued) {
        caller.thread.join();
        EXPECT_EQ(caller.error, "");
    }
    const auto saves = store_.saves();
    ASSERT_EQ(saves.size(), 3u);
    EXPECT_EQ(heldIn(saves[1]), 1u);
    EXPECT_EQ(heldIn(saves[2]), 4u) << "the three queued changes share one write";
}

TEST_F(ServiceBatchedWritesTest, AFailedWriteFailsEveryChangeItCarriedAndUndoesThem) {
    Caller first, queued[3];
    ASSERT_NO_FATAL_FAILURE(queueThreeBehindAWrite(first, queued));
    store_.allow(3, /*fail=*/true);
    for (auto& caller : queued) {
        caller.thread.join();
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, "No space left on device", caller.error);
    }
    EXPECT_EQ(heldIn(service_.snapshot()), 1u);

    // The undone addresses are free again: the next caller gets the second address.
    store_.allow(4);
    EXPECT_EQ(service_.requestAddress({poolId_, "", {}}).address, address("198.19.0.2"));
}

TEST_F(ServiceBatchedWritesTest, AFailedWriteUndoesAMixedBatchNewestFirstLeavingMemoryAsTheFile) {
    const std::string local(kLocalAddressSpace);
    store_.allow(3);
    const auto other = service_.requestPool({local, "198.19.1.0/24", "", {}, false}).poolId;
    service_.requestAddress({other, "198.19.1.5", {}});
    Caller first;
    start(first);  // save 4, held
    ASSERT_TRUE(store_.waitUntilStarted(4));

    // Behind it, every kind of change, some building on others: an address in a pool of the same
    // batch (its ID is predictable), a release of an address and then of its pool.
    const std::string dynamic = "gipam-local/198.18.0.0/24";
    Caller batch[5];
    ASSERT_NO_FATAL_FAILURE(queue(batch[0], [&] { service_.requestPool({local, "", "", {}, false}); }));
    ASSERT_NO_FATAL_FAILURE(queue(batch[1], [&] { service_.requestAddress({dynamic, "198.18.0.7", {}}); }));
    ASSERT_NO_FATAL_FAILURE(queue(batch[2], [&] { service_.releaseAddress(other, "198.19.1.5"); }));
    ASSERT_NO_FATAL_FAILURE(queue(batch[3], [&] { service_.releasePool(other); }));
    ASSERT_NO_FATAL_FAILURE(queue(batch[4], [&] { service_.releaseAddress(poolId_, "198.19.0.1"); }));
    store_.allow(4);
    first.thread.join();
    EXPECT_EQ(first.error, "");
    ASSERT_TRUE(store_.waitUntilStarted(5));
    store_.allow(5, /*fail=*/true);
    for (auto& caller : batch) {
        caller.thread.join();
        EXPECT_PRED_FORMAT2(::testing::IsSubstring, "No space left on device", caller.error);
    }
    const auto saves = store_.saves();
    ASSERT_EQ(saves.size(), 4u);
    EXPECT_EQ(service_.snapshot(), saves.back()) << "memory differs from the file after the undo";

    // And it goes on from there: the same block again, the other pool with its address.
    store_.allow(7);
    EXPECT_EQ(service_.requestPool({local, "", "", {}, false}).poolId, dynamic);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "already allocated",
                        testing::ipamErrorOf([&] { service_.requestAddress({other, "198.19.1.5", {}}); }));
}

}  // namespace
}  // namespace gipam::ipam
