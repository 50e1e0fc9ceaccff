// GroupCommit alone: callers queued behind a write share the next one, nobody returns before the
// write holding their change, and a failed write undoes every change it carried, newest first.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>
#include <vector>

#include "log/log.h"
#include "store/group_commit.h"
#include "store/lease_store.h"

namespace gipam::store {
namespace {

using namespace std::chrono_literals;

// The "state" is a counter of changes made; a write records it. Writes wait for the test's go.
class GroupCommitTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }

    void change(std::vector<std::string>* undone = nullptr, std::string name = {}) {
        std::unique_lock lock(mutex_);
        ++made_;
        group_.commit(lock, [this, undone, name] {
            --made_;
            if (undone) undone->push_back(name);
        });
    }
    bool waitForWrites(int count) {
        std::unique_lock lock(gate_);
        return gateChanged_.wait_for(lock, 10s, [&] { return started_ >= count; });
    }
    void allow(int count, bool fail = false) {
        std::lock_guard lock(gate_);
        allowed_ = count;
        failNext_ = fail;
        gateChanged_.notify_all();
    }

    std::mutex mutex_;  // the callers' state lock
    int made_ = 0;      // guarded by mutex_
    std::mutex gate_;
    std::condition_variable gateChanged_;
    int started_ = 0, allowed_ = 0;
    bool failNext_ = false;
    std::vector<int> written_;  // the state each write saved
    GroupCommit group_{[this] {
                           const PoolRecord one{"p", ip::Prefix::parse("198.18.0.0/24"), {}, {}, {}, {}};
                           return Leases{std::nullopt, std::nullopt, std::vector<PoolRecord>(made_, one)};
                       },
                       [this](const Leases& leases) {
                           std::unique_lock lock(gate_);
                           const int number = ++started_;
                           gateChanged_.notify_all();
                           gateChanged_.wait_for(lock, 10s, [&] { return allowed_ >= number; });
                           if (failNext_) throw StoreError("disk full");
                           written_.push_back(static_cast<int>(leases.pools.size()));
                       }};
};

TEST_F(GroupCommitTest, ChangesQueuedBehindAWriteShareTheNext) {
    std::thread first([&] { change(); });
    ASSERT_TRUE(waitForWrites(1));
    std::atomic<int> answered = 0;
    std::vector<std::thread> queued;
    for (int i = 0; i < 3; ++i) queued.emplace_back([&] { change(); ++answered; });
    while (true) {
        std::lock_guard lock(mutex_);
        if (made_ == 4) break;
    }
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(answered, 0) << "answered before the write holding the change";
    allow(2);
    first.join();
    for (auto& thread : queued) thread.join();
    EXPECT_EQ(written_, (std::vector<int>{1, 4}));
    EXPECT_EQ(group_.writeInFlightFor(), std::chrono::nanoseconds::zero());
}

TEST_F(GroupCommitTest, AFailedWriteUndoesEveryChangeItCarriedNewestFirst) {
    std::vector<std::string> undone;
    std::thread first([&] { EXPECT_THROW(change(&undone, "first"), StoreError); });
    ASSERT_TRUE(waitForWrites(1));
    std::thread second([&] { EXPECT_THROW(change(&undone, "second"), StoreError); });
    while (true) {
        std::lock_guard lock(mutex_);
        if (made_ == 2) break;
    }
    allow(1, true);
    first.join();
    second.join();
    EXPECT_EQ(made_, 0);
    EXPECT_EQ(undone, (std::vector<std::string>{"second", "first"}));
    allow(2, false);
    change();
    EXPECT_EQ(written_, (std::vector<int>{1}));
}

}  // namespace
}  // namespace gipam::store
