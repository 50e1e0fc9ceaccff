#include "store/etcd/etcd_client.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <thread>

#include "json/json_string.h"

namespace gipam::store {
namespace {

using Clock = std::chrono::steady_clock;

std::string base64(const std::string& bytes) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder << bytes;
    encoder.close();
    return out.str();
}

std::string unbase64(const std::string& text) {
    std::istringstream in(text);
    Poco::Base64Decoder decoder(in);
    std::string bytes;
    Poco::StreamCopier::copyToString(decoder, bytes);
    return bytes;
}

// The gateway writes int64 as strings and leaves out zero values.
std::int64_t int64Of(const Poco::JSON::Object::Ptr& object, const std::string& name) {
    if (!object || !object->has(name)) return 0;
    return std::stoll(object->getValue<std::string>(name));
}

std::string bytesOf(const Poco::JSON::Object::Ptr& object, const std::string& name) {
    if (!object || !object->has(name)) return {};
    return unbase64(object->getValue<std::string>(name));
}

void appendField(std::string& out, const char* name, const std::string& bytes) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += name;
    out += "\":";
    json::appendString(out, base64(bytes));
}

void appendNumber(std::string& out, const char* name, std::int64_t number) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += name;
    out += "\":\"" + std::to_string(number) + '"';
}

std::string rangeBody(const std::string& key, const std::string& rangeEnd, std::int64_t limit, bool keysOnly,
                      std::int64_t revision = 0) {
    std::string out = "{";
    appendField(out, "key", key);
    if (!rangeEnd.empty()) appendField(out, "range_end", rangeEnd);
    if (limit) appendNumber(out, "limit", limit);
    if (revision) appendNumber(out, "revision", revision);
    if (keysOnly) out += ",\"keys_only\":true";
    return out + "}";
}

std::string operationJson(const Operation& operation) {
    std::string out = "{";
    switch (operation.kind) {
        case Operation::Kind::Put:
            out += "\"request_put\":{";
            appendField(out, "key", operation.key);
            appendField(out, "value", operation.value);
            if (operation.lease) appendNumber(out, "lease", operation.lease);
            out += "}";
            break;
        case Operation::Kind::Delete:
            out += "\"request_delete_range\":{";
            appendField(out, "key", operation.key);
            if (!operation.rangeEnd.empty()) appendField(out, "range_end", operation.rangeEnd);
            out += "}";
            break;
        case Operation::Kind::Range:
            out += "\"request_range\":" +
                   rangeBody(operation.key, operation.rangeEnd, operation.limit, operation.keysOnly);
            break;
    }
    return out + "}";
}

std::string compareJson(const Compare& compare) {
    static const char* const targets[] = {"CREATE", "MOD", "VALUE"};
    static const char* const results[] = {"EQUAL", "NOT_EQUAL", "LESS", "GREATER"};
    std::string out = "{";
    appendField(out, "key", compare.key);
    if (!compare.rangeEnd.empty()) appendField(out, "range_end", compare.rangeEnd);
    out += std::string(",\"target\":\"") + targets[static_cast<int>(compare.target)] + "\",\"result\":\"" +
           results[static_cast<int>(compare.result)] + "\"";
    switch (compare.target) {
        case Compare::Target::Create: appendNumber(out, "create_revision", compare.number); break;
        case Compare::Target::Mod: appendNumber(out, "mod_revision", compare.number); break;
        case Compare::Target::Value: appendField(out, "value", compare.value); break;
    }
    return out + "}";
}

std::vector<KeyValue> kvsOf(const Poco::JSON::Object::Ptr& rangeResponse) {
    std::vector<KeyValue> kvs;
    if (!rangeResponse || !rangeResponse->has("kvs")) return kvs;
    const auto array = rangeResponse->getArray("kvs");
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto kv = array->getObject(static_cast<unsigned>(i));
        kvs.push_back({bytesOf(kv, "key"), bytesOf(kv, "value"), int64Of(kv, "create_revision"),
                       int64Of(kv, "mod_revision"), int64Of(kv, "lease")});
    }
    return kvs;
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

// An error answer of etcd's gateway: its message and gRPC code (-1 when the body has none). Unary
// errors are {"error","code","message"}, stream errors {"error":{"grpc_code","message"}}.
struct GatewayError {
    std::string message;
    int code = -1;
};

GatewayError gatewayErrorOf(const std::string& text) {
    GatewayError error{text, -1};
    try {
        const auto object = parseObject(text);
        if (const auto nested = object->getObject("error")) {
            error.message = nested->optValue<std::string>("message", text);
            error.code = nested->optValue<int>("grpc_code", -1);
        } else {
            error.message = object->optValue<std::string>("error", object->optValue<std::string>("message", text));
            error.code = object->optValue<int>("code", -1);
        }
    } catch (const Poco::Exception&) {
    }
    return error;
}

// gRPC codes etcd gives only before a write is proposed: nothing was applied.
constexpr int kInvalidArgument = 3, kNotFound = 5, kFailedPrecondition = 9, kResourceExhausted = 8,
              kOutOfRange = 11, kUnavailable = 14;

// Whether `error` says a write was certainly not applied. Everything else etcd answers to a
// write ("request timed out", "server stopped", "transport is closing", a context deadline)
// comes after the proposal, which may still commit.
bool neverApplied(const GatewayError& error) {
    switch (error.code) {
        case kInvalidArgument:
        case kNotFound:
        case kFailedPrecondition:
        case kResourceExhausted:
        case kOutOfRange: return true;
        // Sent with Grpc-Metadata-Hasleader, a member without a leader refuses before proposing.
        case kUnavailable: return error.message == "etcdserver: no leader";
        default: return false;
    }
}

// Errors every member would give alike: trying another one does not help.
bool refusedAlike(const GatewayError& error) {
    return error.code == kInvalidArgument || error.code == kNotFound || error.code == kFailedPrecondition ||
           error.code == kOutOfRange;
}

}  // namespace

std::string prefixEnd(std::string prefix) {
    while (!prefix.empty()) {
        if (static_cast<unsigned char>(prefix.back()) < 0xff) {
            ++prefix.back();
            return prefix;
        }
        prefix.pop_back();
    }
    return std::string(1, '\0');  // every key
}

struct EtcdClient::Session {
    std::size_t endpoint;
    std::unique_ptr<Poco::Net::HTTPClientSession> http;
};

void EtcdClient::checkSettings(const std::vector<std::string>& endpoints, const EtcdTls& tls) {
    if (endpoints.empty()) throw StoreError("no etcd endpoint given");
    std::string https, http;  // one endpoint of each scheme, for the message
    for (const auto& endpoint : endpoints) {
        Poco::URI uri;
        try {
            uri = Poco::URI(endpoint);
        } catch (const Poco::Exception&) {
        }
        if (uri.getScheme() == "https") https = endpoint;
        else if (uri.getScheme() == "http") http = endpoint;
        else throw StoreError("etcd endpoint " + endpoint + " is not an http:// or https:// URL");
        if (uri.getHost().empty()) throw StoreError("etcd endpoint " + endpoint + " names no host");
    }
    if (!https.empty() && !http.empty()) {
        throw StoreError("etcd endpoints mix https:// (" + https + ") and http:// (" + http +
                         "): give every member with the scheme it serves");
    }
    if (tls.certificateFile.empty() != tls.keyFile.empty()) {
        throw StoreError("--etcd-cert and --etcd-key go together: give both or neither");
    }
    if (!http.empty() && (!tls.caFile.empty() || !tls.certificateFile.empty())) {
        throw StoreError("--etcd-cacert, --etcd-cert and --etcd-key are for https:// endpoints, but " + http +
                         " is http://: use https:// URLs, or leave the TLS files out");
    }
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, EtcdTls tls) : endpoints_(std::move(endpoints)) {
    checkSettings(endpoints_, tls);
    if (Poco::URI(endpoints_.front()).getScheme() != "https") return;
    // Without a CA file, the system's CAs: etcd's certificate is verified either way.
    try {
        context_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, tls.keyFile, tls.certificateFile,
                                          tls.caFile, Poco::Net::Context::VERIFY_STRICT, 9, tls.caFile.empty());
    } catch (const Poco::Exception& error) {
        throw StoreError("TLS to etcd: " + error.displayText());
    }
}

EtcdClient::~EtcdClient() = default;

std::unique_ptr<EtcdClient::Session> EtcdClient::takeSession(std::size_t endpoint) {
    {
        std::lock_guard lock(mutex_);
        for (auto it = idle_.begin(); it != idle_.end(); ++it) {
            if ((*it)->endpoint != endpoint) continue;
            auto session = std::move(*it);
            idle_.erase(it);
            return session;
        }
    }
    const Poco::URI uri(endpoints_[endpoint]);
    auto session = std::make_unique<Session>();
    session->endpoint = endpoint;
    if (uri.getScheme() == "https") {
        session->http = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context_);
    } else {
        session->http = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    }
    session->http->setKeepAlive(true);
    session->http->setKeepAliveTimeout(Poco::Timespan(20, 0));
    return session;
}

void EtcdClient::giveBack(std::unique_ptr<Session> session) {
    std::lock_guard lock(mutex_);
    preferred_ = session->endpoint;
    if (idle_.size() < 64) idle_.push_back(std::move(session));
}

void EtcdClient::forget(std::size_t endpoint) {
    std::lock_guard lock(mutex_);
    std::erase_if(idle_, [&](const std::unique_ptr<Session>& session) { return session->endpoint == endpoint; });
    if (preferred_ == endpoint) preferred_ = (endpoint + 1) % endpoints_.size();
}

std::string EtcdClient::post(const std::string& path, const std::string& body, bool write, Deadline deadline) {
    std::size_t endpoint;
    {
        std::lock_guard lock(mutex_);
        endpoint = preferred_;
    }
    std::map<std::size_t, std::string> failed;  // the last failure of each endpoint tried
    const auto failures = [&] {
        std::string text;
        for (const auto& [index, why] : failed) text += (text.empty() ? "" : "; ") + endpoints_[index] + ": " + why;
        std::lock_guard lock(mutex_);
        if (!text.empty()) return lastFailures_ = text;
        // An earlier call of this request spent the deadline: what etcd said then.
        if (!lastFailures_.empty()) return "no time left to try; last: " + lastFailures_;
        for (const auto& url : endpoints_) text += (text.empty() ? "" : ", ") + url;
        return "no time left to try " + text;
    };
    // Each endpoint once, then round again while time is left: a member restarting comes back.
    for (std::size_t attempt = 0; Clock::now() < deadline; ++attempt, endpoint = (endpoint + 1) % endpoints_.size()) {
        const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        auto session = takeSession(endpoint);
        bool sent = false;
        try {
            // A share of what is left, so that one silent member leaves time for the others.
            const auto share = std::clamp<std::int64_t>(left.count() / 2, 200000, 1000000);
            session->http->setTimeout(Poco::Timespan(std::min<std::int64_t>(share, left.count())));
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, path, Poco::Net::HTTPMessage::HTTP_1_1);
            request.setContentType("application/json");
            request.setContentLength(static_cast<std::streamsize>(body.size()));
            request.setKeepAlive(true);
            // A member without a leader then refuses at once, before proposing anything, instead
            // of waiting 7 s and leaving the outcome unknown.
            request.set("Grpc-Metadata-Hasleader", "true");
            session->http->sendRequest(request) << body;
            sent = true;
            Poco::Net::HTTPResponse response;
            std::istream& in = session->http->receiveResponse(response);
            std::string text;
            Poco::StreamCopier::copyToString(in, text);
            if (response.getStatus() == Poco::Net::HTTPResponse::HTTP_OK) {
                giveBack(std::move(session));
                return text;
            }
            const auto error = gatewayErrorOf(text);
            failed[endpoint] = error.message;
            giveBack(std::move(session));
            forget(endpoint);
            if (write && !neverApplied(error)) {
                throw EtcdOutcomeUnknown("etcd answered a write with \"" + error.message + "\" (" + endpoints_[endpoint] +
                                         "); it may apply it still");
            }
            if (refusedAlike(error)) {
                throw EtcdRefused("etcd at " + endpoints_[endpoint] + " refused the request: " + error.message, error.code);
            }
        } catch (const Poco::Exception& error) {
            failed[endpoint] = error.displayText();
            forget(endpoint);
            // A write that went out without an answer may have been applied: sending it again
            // would find its own effect and look like a conflict. The caller reads to know.
            if (sent && write) {
                throw EtcdOutcomeUnknown("etcd did not answer a write (" + failures() + "); it may have applied it");
            }
        }
        if (attempt + 1 >= endpoints_.size()) {
            // Every endpoint failed once: pause a little before the next round.
            const auto pause = std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - Clock::now());
            if (pause.count() > 0) std::this_thread::sleep_for(pause);
        }
    }
    throw EtcdUnavailable("etcd is unreachable within the request's deadline (" + failures() + ")");
}

RangeResult EtcdClient::range(const std::string& key, const std::string& rangeEnd, Deadline by, std::int64_t limit,
                              bool keysOnly) {
    return rangeAt(key, rangeEnd, limit, keysOnly, 0, by);
}

RangeResult EtcdClient::rangeAt(const std::string& key, const std::string& rangeEnd, std::int64_t limit, bool keysOnly,
                                std::int64_t revision, Deadline until) {
    const auto text = post("/v3/kv/range", rangeBody(key, rangeEnd, limit, keysOnly, revision), false, until);
    try {
        const auto object = parseObject(text);
        return {kvsOf(object), int64Of(object->getObject("header"), "revision"),
                object->has("more") && object->getValue<bool>("more")};
    } catch (const std::exception& error) {
        throw EtcdUnavailable(std::string("etcd answered a range with something unreadable: ") + error.what());
    }
}

RangeResult EtcdClient::rangeAll(const std::string& key, const std::string& rangeEnd, Deadline by, bool keysOnly) {
    constexpr std::int64_t kPage = 5000;  // keeps each answer far below etcd's message limits
    RangeResult all = rangeAt(key, rangeEnd, kPage, keysOnly, 0, by);
    auto page = all;
    while (page.more && !page.kvs.empty()) {
        page = rangeAt(page.kvs.back().key + std::string(1, '\0'), rangeEnd, kPage, keysOnly, all.revision, by);
        all.kvs.insert(all.kvs.end(), page.kvs.begin(), page.kvs.end());
    }
    all.more = false;
    return all;
}

TxnResult EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                          const std::vector<Operation>& failure, Deadline until) {
    std::string body = "{\"compare\":[";
    for (std::size_t i = 0; i < compares.size(); ++i) body += (i ? "," : "") + compareJson(compares[i]);
    body += "],\"success\":[";
    bool writes = false;
    for (std::size_t i = 0; i < success.size(); ++i) {
        body += (i ? "," : "") + operationJson(success[i]);
        writes = writes || success[i].kind != Operation::Kind::Range;
    }
    body += "],\"failure\":[";
    for (std::size_t i = 0; i < failure.size(); ++i) body += (i ? "," : "") + operationJson(failure[i]);
    body += "]}";
    const auto text = post("/v3/kv/txn", body, writes, until);
    try {
        const auto object = parseObject(text);
        TxnResult result;
        result.succeeded = object->has("succeeded") && object->getValue<bool>("succeeded");
        result.revision = int64Of(object->getObject("header"), "revision");
        if (object->has("responses")) {
            const auto responses = object->getArray("responses");
            for (std::size_t i = 0; i < responses->size(); ++i) {
                const auto response = responses->getObject(static_cast<unsigned>(i));
                if (response->has("response_range")) result.ranges.push_back(kvsOf(response->getObject("response_range")));
            }
        }
        return result;
    } catch (const std::exception& error) {
        // std::stoll of a number etcd wrote wrongly, too: every failure is an answer.
        const std::string message = std::string("etcd answered a transaction with something unreadable: ") + error.what();
        if (writes) throw EtcdOutcomeUnknown(message);
        throw EtcdUnavailable(message);
    }
}

std::int64_t EtcdClient::grantLease(int seconds, Deadline by) {
    const auto text = post("/v3/lease/grant", "{\"TTL\":\"" + std::to_string(seconds) + "\",\"ID\":\"0\"}", false, by);
    try {
        const auto id = int64Of(parseObject(text), "ID");
        if (id == 0) throw EtcdUnavailable("etcd granted a lease without an ID");
        return id;
    } catch (const EtcdUnavailable&) {
        throw;
    } catch (const std::exception& error) {
        throw EtcdUnavailable(std::string("etcd answered a lease grant with something unreadable: ") + error.what());
    }
}

std::int64_t EtcdClient::keepAlive(std::int64_t lease, Deadline by) {
    // A stream in gRPC; over the gateway one object in, one {"result":...} line out.
    const auto text = post("/v3/lease/keepalive", "{\"ID\":\"" + std::to_string(lease) + "\"}", false, by);
    try {
        const auto object = parseObject(text.substr(0, text.find('\n')));
        if (const auto error = object->getObject("error")) {
            throw EtcdUnavailable("etcd could not renew lease " + std::to_string(lease) + ": " +
                                  error->optValue<std::string>("message", "?"));
        }
        return std::max<std::int64_t>(0, int64Of(object->getObject("result"), "TTL"));  // no TTL: the lease is gone
    } catch (const EtcdUnavailable&) {
        throw;
    } catch (const std::exception& error) {
        throw EtcdUnavailable(std::string("etcd answered a lease renewal with something unreadable: ") + error.what());
    }
}

void EtcdClient::revokeLease(std::int64_t lease, Deadline by) {
    try {
        post("/v3/lease/revoke", "{\"ID\":\"" + std::to_string(lease) + "\"}", false, by);
    } catch (const EtcdRefused& refused) {
        if (refused.code() != kNotFound) throw;  // already gone
    }
}

}  // namespace gipam::store
