#include "store/etcd/node_registration.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace gipam::store {
namespace {

std::string firstLine(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); 0 if none.
long long startTimeOf(long long pid) {
    const auto stat = firstLine("/proc/" + std::to_string(pid) + "/stat");
    const auto end = stat.rfind(')');  // the command name may hold spaces and parentheses
    if (end == std::string::npos) return 0;
    std::istringstream fields(stat.substr(end + 2));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
        if (i == 22) return std::stoll(field);
    }
    return 0;
}

std::string utcNow() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

std::string describe(const NodeAlive& alive) {
    return "pid " + std::to_string(alive.pid) + " on host " + (alive.hostname.empty() ? "?" : alive.hostname) +
           ", running since " + (alive.since.empty() ? "?" : alive.since);
}

std::string joined(const std::set<std::string>& items, std::size_t limit = 5) {
    std::string text;
    std::size_t shown = 0;
    for (const auto& item : items) {
        if (shown++ == limit) return text + ", ...";
        text += (text.empty() ? "" : ", ") + item;
    }
    return text;
}

}  // namespace

NodeRegistration::NodeRegistration(EtcdClient& etcd, EtcdKeys keys, NodeIdentity identity, std::string leaseFile,
                                   int livenessSeconds)
    : etcd_(etcd),
      keys_(std::move(keys)),
      identity_(std::move(identity)),
      leaseFile_(std::move(leaseFile)),
      livenessSeconds_(livenessSeconds),
      incarnation_(newNonce()) {}

NodeAlive NodeRegistration::self() const {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const long long pid = ::getpid();
    return {identity_.instance, incarnation_, host, firstLine("/proc/sys/kernel/random/boot_id"),
            pid,                startTimeOf(pid), utcNow()};
}

bool NodeRegistration::gone(const NodeAlive& alive) {
    // Another machine's (or another boot's) process cannot be looked at: its key must expire.
    if (alive.boot.empty() || alive.boot != firstLine("/proc/sys/kernel/random/boot_id")) return false;
    const auto started = startTimeOf(alive.pid);
    return started == 0 || started != alive.started;
}

void NodeRegistration::conflict(const std::string& message) {
    conflict_ = message;
    throw IdentityConflict(message);
}

std::string NodeRegistration::fence() const {
    std::lock_guard lock(mutex_);
    if (!conflict_.empty()) return conflict_;
    if (!established_) return "gipam has not yet checked node ID " + identity_.id + " in etcd";
    return {};
}

bool NodeRegistration::putAlive(const std::optional<KeyValue>& expected, bool registered, Deadline by) {
    if (lease_ == 0) lease_ = etcd_.grantLease(livenessSeconds_, by);
    const auto value = encodeNodeAlive(self());
    const auto aliveKey = keys_.alive(identity_.id);
    const auto nodeKey = keys_.node(identity_.id);
    const auto record = encodeNodeRecord({identity_.instance});
    TxnResult result;
    // Neither key changed since it was looked at: no other gipam registered in between.
    const std::vector<Compare> compares{expected ? unchangedSince(aliveKey, expected->modRevision) : absent(aliveKey),
                                        registered ? holds(nodeKey, record) : absent(nodeKey)};
    const std::vector<Operation> success{put(nodeKey, record), put(aliveKey, value, lease_)};
    try {
        result = etcd_.txn(compares, success, {}, by);
    } catch (const EtcdOutcomeUnknown&) {
        const auto found = etcd_.range(aliveKey, {}, by).kvs;
        result.succeeded = found.size() == 1 && found[0].value == value;
    } catch (const EtcdRefused& refused) {
        if (refused.code() != 5) throw;  // the lease expired before it was used
        lease_ = 0;
        return false;
    }
    if (result.succeeded) aliveValue_ = value;
    return result.succeeded;
}

void NodeRegistration::establish(const Known& known, Deadline by) {
    std::lock_guard lock(mutex_);
    if (!conflict_.empty()) throw IdentityConflict(conflict_);
    if (established_) return;
    const auto& id = identity_.id;
    const auto waitUntil = std::chrono::steady_clock::now() + std::chrono::seconds(livenessSeconds_ + 2);
    for (int round = 0; round < 8; ++round) {
        const auto found = etcd_.txn({}, {read(keys_.node(id)), read(keys_.alive(id))}, {}, by).ranges;
        const auto recordKv = found.at(0).empty() ? std::nullopt : std::optional(found[0][0]);
        const auto aliveKv = found.at(1).empty() ? std::nullopt : std::optional(found[1][0]);
        const auto record = recordKv ? decodeNodeRecord(recordKv->value) : std::nullopt;
        const auto alive = aliveKv ? decodeNodeAlive(aliveKv->value) : std::nullopt;
        std::optional<KeyValue> takeOver;
        if (alive && alive->incarnation != incarnation_) {
            if (alive->instance != identity_.instance) {
                conflict("node ID " + id + " is held by another live gipam (instance " + alive->instance + ", " +
                         describe(*alive) + "); give this gipam its own --node-id");
            }
            if (!gone(*alive)) {
                // Our lease file's earlier process, on another boot or in another PID namespace:
                // its key expires within livenessSeconds if it is dead.
                if (std::chrono::steady_clock::now() >= waitUntil) {
                    conflict("another gipam runs as node " + id + " with this lease file's instance token (" +
                             describe(*alive) + "): two gipams run on copies of one lease file. Stop one, or give "
                             "it a lease file and --node-id of its own");
                }
                std::this_thread::sleep_for(std::chrono::seconds(1));
                --round;
                continue;
            }
            takeOver = aliveKv;
        }
        if (record && record->instance != identity_.instance) {
            conflict("lease file " + leaseFile_ + " belongs to another instance of node " + id + ": etcd records instance " +
                     record->instance + " for node " + id + (alive ? " (running: " + describe(*alive) + ")" : "") +
                     ", this lease file has " + identity_.instance +
                     ". Another gipam uses node ID " + id + ", or this lease file is a copy of its. Give this gipam its "
                     "own --node-id; if the other is gone for good, run `gipam node remove " + id + "` first");
        }
        if (!record) {
            // Not registered yet: whatever etcd holds of this node must be the lease file's.
            std::set<std::string> unknown;
            for (const auto family : {ip::Family::V4, ip::Family::V6}) {
                const auto start = keys_.blocks(family);
                for (const auto& kv : etcd_.rangeAll(start, prefixEnd(start), by).kvs) {
                    const auto claim = decodeBlockClaim(kv.value);
                    if (claim && claim->node == id && claim->scope == Scope::Node && !known(claim->pool)) {
                        unknown.insert("block " + (keys_.blockOf(kv.key) ? keys_.blockOf(kv.key)->toString() : kv.key) +
                                       " of pool " + claim->pool);
                    }
                }
            }
            for (const auto& kv : etcd_.rangeAll(keys_.pools(), prefixEnd(keys_.pools()), by, true).kvs) {
                const auto key = keys_.poolKeyOf(kv.key);
                if ((key.kind == EtcdKeys::PoolKey::Kind::Holder || key.kind == EtcdKeys::PoolKey::Kind::Copy) &&
                    key.last == id && !known(key.poolId)) {
                    unknown.insert("shared pool " + key.poolId);
                }
            }
            if (!unknown.empty()) {
                conflict("etcd holds " + std::to_string(unknown.size()) + " claim(s) of node " + id + " that lease file " +
                         leaseFile_ + " does not know (" + joined(unknown) +
                         "): the lease file is new or was lost, or another machine uses node ID " + id +
                         ". If node " + id + " is gone for good, run `gipam node remove " + id +
                         "` and start again; if this is another machine, give it its own --node-id");
            }
        }
        if (putAlive(takeOver, record.has_value(), by)) {
            established_ = true;
            return;
        }
    }
    throw EtcdUnavailable("could not register node " + id + " in etcd: its keys kept changing");
}

void NodeRegistration::renew(Deadline by) {
    std::lock_guard lock(mutex_);
    if (!conflict_.empty()) throw IdentityConflict(conflict_);
    if (!established_) return;
    const auto aliveKey = keys_.alive(identity_.id);
    if (etcd_.keepAlive(lease_, by) > 0 && etcd_.txn({holds(aliveKey, aliveValue_)}, {}, {}, by).succeeded) return;
    // The lease expired (etcd did not hear from this gipam for livenessSeconds), or the key
    // changed: this process may go on only if no other gipam took the node ID meanwhile.
    lease_ = 0;
    const auto found = etcd_.range(aliveKey, {}, by).kvs;
    if (!found.empty() && found[0].value != aliveValue_) {
        const auto other = decodeNodeAlive(found[0].value);
        conflict("node " + identity_.id + " was taken by another gipam (" + (other ? describe(*other) : found[0].value) +
                 ") while etcd did not hear from this one; this gipam no longer writes to etcd");
    }
    if (!putAlive(found.empty() ? std::nullopt : std::optional(found[0]), true, by)) {
        throw EtcdUnavailable("could not renew node " + identity_.id + "'s liveness key in etcd");
    }
}

void NodeRegistration::release(Deadline by) {
    std::lock_guard lock(mutex_);
    if (lease_ != 0 && conflict_.empty()) etcd_.revokeLease(lease_, by);
    lease_ = 0;
    established_ = false;
}

}  // namespace gipam::store
