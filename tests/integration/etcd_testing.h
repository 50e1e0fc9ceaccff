// Test support for the etcd backend against a real etcd: nodes (IpamServices on ClusterStores,
// each with its own lease state) sharing one address plan, and a proxy that loses or delays
// etcd's answers.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "ipam/service.h"
#include "log/log.h"
#include "store/etcd/cluster_keeper.h"
#include "store/etcd/cluster_store.h"
#include "support/etcd_cluster.h"

namespace gipam {
namespace {

using namespace std::chrono_literals;
using testing::EtcdCluster;

const store::Leases kPlan{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24},
                          store::Supernet{ip::Prefix::parse("2001:db8:100::/56"), 64}, {}};

constexpr const char* kPrefix = "/gipam-test";

inline store::Deadline soon() { return std::chrono::steady_clock::now() + 10s; }

// One node: its lease state (in memory), its etcd client, identity and store, and its IPAM
// service. Its lease file's instance token is "<node>-1" unless given. It lets go of its liveness
// key when it goes, as a gipam stopping does (`crash()` first: it does not).
struct Host {
    Host(const std::vector<std::string>& endpoints, const std::string& node, const store::Leases& leases = kPlan,
         std::string instance = "")
        : etcd(endpoints),
          file(leases, [this](const store::Leases& state) { written = state; }),
          registration(etcd, store::EtcdKeys{kPrefix},
                       store::NodeIdentity{node, instance.empty() ? node + "-1" : instance}, "leases-" + node + ".json", 2),
          cluster(file, etcd, registration, kPrefix),
          service(leases, cluster) {
        cluster.adopt(service.heldPools());
    }
    ~Host() {
        if (!crashed) {
            try {
                registration.release(soon());
            } catch (const std::exception&) {
            }
        }
    }
    store::Reconciliation start() { return cluster.reconcile(true, soon()); }
    void crash() { crashed = true; }
    store::Leases written = kPlan;  // the lease file as last written
    bool crashed = false;
    store::EtcdClient etcd;
    store::SnapshotStore file;
    store::NodeRegistration registration;
    store::ClusterStore cluster;
    ipam::IpamService service;
};

inline ipam::PoolRequest local(std::string pool = "", ipam::Options options = {}) {
    return {std::string(ipam::kLocalAddressSpace), std::move(pool), "", std::move(options), false};
}

inline ipam::Options shared(const std::string& name) {
    return {{std::string(ipam::kNetworkOption), name}};
}

// The /25 at the start of `subnet` (which overlaps it).
inline std::string truncatedSubnet(const ip::Prefix& subnet) {
    return ip::Prefix(subnet.network(), subnet.length() + 1).toString();
}

const ipam::Options kGateway{{std::string(ipam::kRequestAddressType), std::string(ipam::kGatewayType)}};

inline std::string errorOf(const std::function<void()>& action) {
    try {
        action();
    } catch (const std::exception& error) {
        return error.what();
    }
    return {};
}

// A TCP proxy in front of etcd that can drop etcd's next answers (the request reaches etcd and
// is applied, but the client sees the connection close without a reply), or hold the next
// request back past the client's timeout and let etcd apply it only once the client has read
// back (and found nothing) and before its resend: a slow write, not a lost one.
class AnswerDroppingProxy {
public:
    explicit AnswerDroppingProxy(int etcdPort) : etcdPort_(etcdPort) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address = loopback(0);
        ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::listen(listener_, 64);
        socklen_t length = sizeof address;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { acceptLoop(); });
    }
    ~AnswerDroppingProxy() {
        stopping_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        acceptor_.join();
        for (auto& pump : pumps_) pump.join();
    }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    void dropAnswers(int count) { drops_ = count; }
    int dropped() const { return dropped_; }
    void holdNextRequest() { holdArmed_ = true; }
    bool heldAndApplied() const {
        std::lock_guard lock(mutex_);
        return holdState_ == Hold::Applied;
    }

private:
    static sockaddr_in loopback(int port) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return address;
    }
    void acceptLoop() {
        while (!stopping_) {
            const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) return;
            pumps_.emplace_back([this, client] { pump(client); });
        }
    }
    void pump(int client) {
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address = loopback(etcdPort_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            ::close(client);
            ::close(server);
            return;
        }
        char buffer[65536];
        std::string held;  // this connection's request held back
        while (!stopping_) {
            pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (::poll(fds, 2, 100) <= 0) continue;
            if (fds[0].revents) {
                const auto n = ::read(client, buffer, sizeof buffer);
                if (n <= 0) break;
                if (holdArmed_.exchange(false)) {
                    held.assign(buffer, static_cast<size_t>(n));
                    std::lock_guard lock(mutex_);
                    holdState_ = Hold::Held;
                    continue;
                }
                {
                    // A resend waits until the held request is applied.
                    std::unique_lock lock(mutex_);
                    changed_.wait_for(lock, 10s, [this] { return holdState_ != Hold::ReadBack; });
                }
                if (::write(server, buffer, static_cast<size_t>(n)) != n) break;
            }
            if (fds[1].revents) {
                const auto n = ::read(server, buffer, sizeof buffer);
                if (n <= 0) break;
                if (drops_.fetch_sub(1) > 0) {
                    ++dropped_;
                    break;  // etcd answered; the client never hears it
                }
                drops_ = 0;
                if (::write(client, buffer, static_cast<size_t>(n)) != n) break;
                std::lock_guard lock(mutex_);
                if (holdState_ == Hold::Held) {
                    holdState_ = Hold::ReadBack;  // the client has read back: now etcd applies it
                    changed_.notify_all();
                }
            }
        }
        if (!held.empty()) {
            // The client gave up on it; etcd gets it after the client's read-back.
            {
                std::unique_lock lock(mutex_);
                changed_.wait_for(lock, 10s, [this] { return holdState_ == Hold::ReadBack; });
            }
            if (::write(server, held.data(), held.size()) == static_cast<ssize_t>(held.size())) {
                pollfd answer{server, POLLIN, 0};
                if (::poll(&answer, 1, 5000) > 0) ::read(server, buffer, sizeof buffer);
            }
            std::lock_guard lock(mutex_);
            holdState_ = Hold::Applied;
            changed_.notify_all();
        }
        ::close(client);
        ::close(server);
    }

    enum class Hold { None, Held, ReadBack, Applied };
    std::atomic<bool> holdArmed_ = false;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    Hold holdState_ = Hold::None;

    int etcdPort_;
    int listener_;
    int port_ = 0;
    std::atomic<bool> stopping_ = false;
    std::atomic<int> drops_ = 0;
    std::atomic<int> dropped_ = 0;
    std::thread acceptor_;
    std::vector<std::thread> pumps_;  // only the acceptor adds; joined after it stopped
};

class EtcdStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::setLevel(log::Level::Error);
        if (!EtcdCluster::installed()) GTEST_SKIP() << "etcd is not installed (scripts/deps test installs etcd-server)";
        ASSERT_TRUE(etcd_.waitHealthy()) << "etcd did not start";
    }
    std::vector<std::string> endpoints() const { return etcd_.endpoints(); }
    std::vector<store::KeyValue> keys(const std::string& prefix) {
        store::EtcdClient client(endpoints());
        return client.rangeAll(prefix, store::prefixEnd(prefix), soon()).kvs;
    }

    EtcdCluster etcd_{1};
};

inline ipam::PoolRequest global(std::string pool = "") {
    return {std::string(ipam::kGlobalAddressSpace), std::move(pool), "", {}, false};
}

}  // namespace
}  // namespace gipam
