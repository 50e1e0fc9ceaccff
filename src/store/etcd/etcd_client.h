// A client for etcd v3's JSON gateway (/v3/kv/*): ranges and transactions over POCO's HTTP.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <Poco/Net/Context.h>

#include "store/lease_store.h"


namespace gipam::store {

/// etcd could not be asked, or did not answer in time; the message names etcd and the endpoint.
class EtcdUnavailable : public StoreError {
public:
    using StoreError::StoreError;
};

/// A request was sent but no answer came: etcd may or may not have applied it. Only a read can
/// tell which.
class EtcdOutcomeUnknown : public EtcdUnavailable {
public:
    using EtcdUnavailable::EtcdUnavailable;
};

struct KeyValue {
    std::string key;
    std::string value;
    std::int64_t createRevision = 0;
    std::int64_t modRevision = 0;
};

/// One comparison of a transaction: `target` of `key` (every key in [key, rangeEnd) when
/// rangeEnd is set; an absent key has revision 0) compared with `number` or `value`.
struct Compare {
    enum class Target { Create, Mod, Value };
    enum class Result { Equal, NotEqual, Less, Greater };
    std::string key;
    Target target = Target::Create;
    Result result = Result::Equal;
    std::int64_t number = 0;
    std::string value;
    std::string rangeEnd;
};

/// One operation of a transaction.
struct Operation {
    enum class Kind { Put, Delete, Range };
    Kind kind = Kind::Put;
    std::string key;
    std::string value;     // Put
    std::string rangeEnd;  // Delete, Range: [key, rangeEnd)
    std::int64_t limit = 0;           // Range: at most this many keys (0: all)
    std::int64_t minModRevision = 0;  // Range: only keys changed at or after it
};

struct RangeResult {
    std::vector<KeyValue> kvs;
    std::int64_t revision = 0;  // the store's revision the answer is from
    bool more = false;          // a limit left keys out
};

struct TxnResult {
    bool succeeded = false;
    std::int64_t revision = 0;                  // the store's revision after the transaction
    std::vector<std::vector<KeyValue>> ranges;  // the Range operations' answers, in order
};

/// The end of the range of every key starting with `prefix` (etcd's "prefix end").
std::string prefixEnd(std::string prefix);

/// Client TLS for etcd: CA to verify it, and our certificate and key (all optional).
struct EtcdTls {
    std::string caFile, certificateFile, keyFile;
};

/// Talks to the first endpoint that answers, moving on when one fails. Every call gives up
/// within `deadline` in all (dockerd waits for its answer without a timeout of its own), with
/// EtcdUnavailable, or EtcdOutcomeUnknown when a write may have been applied. Thread-safe:
/// sessions are pooled.
class EtcdClient {
public:
    using Deadline = std::chrono::steady_clock::time_point;

    EtcdClient(std::vector<std::string> endpoints, EtcdTls tls = {},
               std::chrono::milliseconds deadline = std::chrono::milliseconds(2500));
    ~EtcdClient();

    /// Now plus the deadline: for several calls that together must give up in time.
    Deadline deadlineFromNow() const { return std::chrono::steady_clock::now() + deadline_; }

    /// Each call gives up at `until` (default: deadlineFromNow()).
    RangeResult range(const std::string& key, const std::string& rangeEnd = {}, std::int64_t limit = 0,
                      std::optional<Deadline> until = std::nullopt);
    /// Every key in [key, rangeEnd), read in pages at one revision.
    RangeResult rangeAll(const std::string& key, const std::string& rangeEnd);
    TxnResult txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                  const std::vector<Operation>& failure = {}, std::optional<Deadline> until = std::nullopt);

    const std::vector<std::string>& endpoints() const { return endpoints_; }

private:
    // POSTs `body` to `path`; the JSON answer. `idempotent`: a lost answer is EtcdUnavailable,
    // not EtcdOutcomeUnknown.
    std::string post(const std::string& path, const std::string& body, bool idempotent, Deadline until);

    RangeResult rangeAt(const std::string& key, const std::string& rangeEnd, std::int64_t limit,
                        std::int64_t revision, Deadline until);
    // After a failure on `endpoint`: drop its idle sessions (one dead member's kept-alive
    // connections would each fail once more) and prefer the next endpoint.
    void forget(std::size_t endpoint);

    struct Session;
    std::unique_ptr<Session> takeSession(std::size_t endpoint);
    void giveBack(std::unique_ptr<Session> session);

    std::vector<std::string> endpoints_;
    std::chrono::milliseconds deadline_;
    Poco::Net::Context::Ptr context_;  // TLS, for https endpoints
    std::mutex mutex_;
    std::vector<std::unique_ptr<Session>> idle_;
    std::size_t preferred_ = 0;  // the endpoint that answered last
};

}  // namespace gipam::store
