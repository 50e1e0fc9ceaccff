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

/// A write was sent but no answer came, or etcd answered with an error it gives after proposing
/// a write ("request timed out", "server stopped", a lost connection): etcd may or may not have
/// applied it, even later. Only a read of what the write identifies can tell which.
class EtcdOutcomeUnknown : public EtcdUnavailable {
public:
    using EtcdUnavailable::EtcdUnavailable;
};

/// etcd refused the request before applying anything, for a reason another member would give as
/// well (`code` is etcd's gRPC code: 3 invalid, 5 a lease not found, 8 too large or too many).
class EtcdRefused : public StoreError {
public:
    EtcdRefused(const std::string& message, int code) : StoreError(message), code_(code) {}
    int code() const { return code_; }

private:
    int code_;
};

struct KeyValue {
    std::string key;
    std::string value;
    std::int64_t createRevision = 0;
    std::int64_t modRevision = 0;
    std::int64_t lease = 0;  // the etcd lease the key is attached to; 0 for none
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
    std::int64_t lease = 0;           // Put: attach the key to this etcd lease (0: none)
    bool keysOnly = false;            // Range: keys and revisions, no values
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

/// Talks to the first endpoint that answers, moving on when one fails; at most 1 s per member
/// per attempt. Every call gives up by the deadline it is given, for all its round trips (dockerd
/// waits for an answer without a timeout of its own), with EtcdUnavailable, EtcdOutcomeUnknown
/// when a write may have been applied, or EtcdRefused. Thread-safe: sessions are pooled.
class EtcdClient {
public:
    using Deadline = store::Deadline;

    /// Refuses (StoreError) endpoints that are not http:// or https:// URLs, a list mixing the
    /// two, and TLS files given for http:// endpoints. https:// without a CA file verifies etcd's
    /// certificate against the system's CAs; a certificate is always verified, with its host name.
    explicit EtcdClient(std::vector<std::string> endpoints, EtcdTls tls = {});
    /// The checks of the constructor, without connecting: StoreError naming what is wrong.
    static void checkSettings(const std::vector<std::string>& endpoints, const EtcdTls& tls);
    ~EtcdClient();

    RangeResult range(const std::string& key, const std::string& rangeEnd, Deadline by, std::int64_t limit = 0,
                      bool keysOnly = false);
    /// Every key in [key, rangeEnd), read in pages at one revision, all by `by`.
    RangeResult rangeAll(const std::string& key, const std::string& rangeEnd, Deadline by, bool keysOnly = false);
    TxnResult txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                  const std::vector<Operation>& failure, Deadline by);

    /// A new etcd lease of `seconds`; its ID.
    std::int64_t grantLease(int seconds, Deadline by);
    /// Renews a lease; the seconds it has left, 0 if it is gone (expired or revoked).
    std::int64_t keepAlive(std::int64_t lease, Deadline by);
    /// Ends a lease, deleting the keys attached to it; a lease already gone is not an error.
    void revokeLease(std::int64_t lease, Deadline by);

    const std::vector<std::string>& endpoints() const { return endpoints_; }

private:
    // POSTs `body` to `path`; the JSON answer. `write`: a lost answer, or an error etcd gives
    // after proposing, is EtcdOutcomeUnknown.
    std::string post(const std::string& path, const std::string& body, bool write, Deadline until);

    RangeResult rangeAt(const std::string& key, const std::string& rangeEnd, std::int64_t limit, bool keysOnly,
                        std::int64_t revision, Deadline until);
    // After a failure on `endpoint`: drop its idle sessions (one dead member's kept-alive
    // connections would each fail once more) and prefer the next endpoint.
    void forget(std::size_t endpoint);

    struct Session;
    std::unique_ptr<Session> takeSession(std::size_t endpoint);
    void giveBack(std::unique_ptr<Session> session);

    std::vector<std::string> endpoints_;
    Poco::Net::Context::Ptr context_;  // TLS, for https endpoints
    std::mutex mutex_;
    std::vector<std::unique_ptr<Session>> idle_;
    std::size_t preferred_ = 0;  // the endpoint that answered last
    std::string lastFailures_;   // what the endpoints said when a request last failed
};

}  // namespace gipam::store
