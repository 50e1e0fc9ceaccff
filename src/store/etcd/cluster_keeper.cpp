#include "store/etcd/cluster_keeper.h"

#include "log/log.h"
#include "store/store_metrics.h"

namespace gipam::store {
namespace {

using Clock = std::chrono::steady_clock;

// Logs `text` at `level` unless it is what was logged last: trouble that persists is said once.
void sayOnce(std::string& last, log::Level level, const std::string& text) {
    if (text == last) return;
    last = text;
    if (text.empty()) return;
    if (level == log::Level::Error) log::error(text);
    else if (level == log::Level::Warning) log::warning(text);
    else log::info(text);
}

}  // namespace

ClusterKeeper::ClusterKeeper(ClusterStore& store, NodeRegistration& registration, std::chrono::seconds interval,
                             bool reconciledAtStart)
    : store_(store), registration_(registration), interval_(interval), reconciled_(reconciledAtStart) {
    sharedStoreMetrics().up = reconciledAtStart ? 1 : 0;
    renewer_ = std::thread([this] { renewing(); });
    reconciler_ = std::thread([this] { reconciling(); });
}

ClusterKeeper::~ClusterKeeper() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    stop_.notify_all();
    renewer_.join();
    reconciler_.join();
    try {
        registration_.release(Clock::now() + std::chrono::seconds(2));
    } catch (const StoreError& error) {
        log::warning(std::string("could not remove this node's liveness key from etcd: ") + error.what() +
                     " (it expires by itself)");
    }
}

bool ClusterKeeper::pause(Clock::duration period) {
    std::unique_lock lock(mutex_);
    return !stop_.wait_for(lock, period, [this] { return stopping_; });
}

void ClusterKeeper::renewing() {
    const auto period = std::chrono::milliseconds(registration_.livenessSeconds() * 1000 / 3);
    std::string last;
    while (pause(period)) {
        try {
            registration_.renew(Clock::now() + period);
            // Not yet registered (etcd not reached since the start), renew asks nothing.
            if (registration_.fence().empty()) sharedStoreMetrics().up = 1;
            sayOnce(last, log::Level::Info, last.empty() ? "" : "this node's liveness key in etcd is renewed again");
        } catch (const IdentityConflict& conflict) {
            sharedStoreMetrics().up = 1;  // etcd answers: this node is fenced, which the log says
            sayOnce(last, log::Level::Error, conflict.what());
        } catch (const StoreError& error) {
            sharedStoreMetrics().up = 0;
            sayOnce(last, log::Level::Warning, std::string("cannot renew this node's liveness key in etcd: ") + error.what());
        }
    }
}

void ClusterKeeper::reconciling() {
    std::string last;
    bool first = !reconciled_;
    auto due = Clock::now() + (reconciled_ ? Clock::duration(interval_) : Clock::duration::zero());
    while (pause(std::chrono::seconds(1))) {
        try {
            if (reconciled_ && Clock::now() < due) {
                // Between reconciles, what a release or write left unknown is settled within a second.
                if (!store_.hasLostWrites()) continue;
                if (const auto freed = store_.settleLostWrites(Clock::now() + std::chrono::seconds(10))) {
                    log::info("settled with etcd: " + std::to_string(freed) + " key(s) freed");
                }
                continue;
            }
            due = Clock::now() + interval_;
            const auto result = store_.reconcile(first, Clock::now() + std::chrono::seconds(10));
            first = false;
            sharedStoreMetrics().up = 1;
            if (!reconciled_) log::info("etcd answers: this node's identity is checked and its pools reconciled");
            reconciled_ = true;
            std::string problems;
            for (const auto& overlap : result.overlaps) problems += (problems.empty() ? "" : "; ") + overlap;
            sayOnce(last, problems.empty() ? log::Level::Info : log::Level::Error, problems);
            if (result.registered || result.freed) {
                log::info("reconciled with etcd: " + std::to_string(result.registered) + " registered, " +
                          std::to_string(result.freed) + " freed");
            }
        } catch (const IdentityConflict& conflict) {
            reconciled_ = true;  // fenced for good: nothing to retry each second
            sayOnce(last, log::Level::Error, conflict.what());
        } catch (const EtcdUnavailable& error) {
            sharedStoreMetrics().up = 0;
            sayOnce(last, log::Level::Warning, std::string("cannot reconcile with etcd: ") + error.what());
        } catch (const StoreError& error) {
            first = false;
            reconciled_ = true;
            sayOnce(last, log::Level::Error, error.what());
        }
    }
}

}  // namespace gipam::store
