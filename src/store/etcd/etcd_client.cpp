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

std::string rangeBody(const std::string& key, const std::string& rangeEnd, std::int64_t limit,
                      std::int64_t minModRevision, std::int64_t revision = 0) {
    std::string out = "{";
    appendField(out, "key", key);
    if (!rangeEnd.empty()) appendField(out, "range_end", rangeEnd);
    if (limit) appendNumber(out, "limit", limit);
    if (minModRevision) appendNumber(out, "min_mod_revision", minModRevision);
    if (revision) appendNumber(out, "revision", revision);
    return out + "}";
}

std::string operationJson(const Operation& operation) {
    std::string out = "{";
    switch (operation.kind) {
        case Operation::Kind::Put:
            out += "\"request_put\":{";
            appendField(out, "key", operation.key);
            appendField(out, "value", operation.value);
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
                   rangeBody(operation.key, operation.rangeEnd, operation.limit, operation.minModRevision);
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
                       int64Of(kv, "mod_revision")});
    }
    return kvs;
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
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

EtcdClient::EtcdClient(std::vector<std::string> endpoints, EtcdTls tls, std::chrono::milliseconds deadline)
    : endpoints_(std::move(endpoints)), deadline_(deadline) {
    if (endpoints_.empty()) throw StoreError("no etcd endpoint given");
    for (const auto& endpoint : endpoints_) {
        const Poco::URI uri(endpoint);
        if (uri.getScheme() != "http" && uri.getScheme() != "https") {
            throw StoreError("etcd endpoint " + endpoint + " is not an http:// or https:// URL");
        }
        if (uri.getScheme() == "https" && !context_) {
            context_ = new Poco::Net::Context(
                Poco::Net::Context::TLS_CLIENT_USE, tls.keyFile, tls.certificateFile, tls.caFile,
                tls.caFile.empty() ? Poco::Net::Context::VERIFY_NONE : Poco::Net::Context::VERIFY_STRICT);
        }
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

std::string EtcdClient::post(const std::string& path, const std::string& body, bool idempotent, Deadline deadline) {
    std::size_t endpoint;
    {
        std::lock_guard lock(mutex_);
        endpoint = preferred_;
    }
    std::map<std::size_t, std::string> failed;  // the last failure of each endpoint tried
    const auto failures = [&] {
        std::string text;
        for (const auto& [index, why] : failed) text += (text.empty() ? "" : "; ") + endpoints_[index] + ": " + why;
        return text.empty() ? std::string("no time left to try") : text;
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
            // An error of etcd's own (no leader, too many requests): it applied nothing.
            std::string message = text;
            try {
                const auto object = parseObject(text);
                if (object->has("error")) message = object->getValue<std::string>("error");
                else if (object->has("message")) message = object->getValue<std::string>("message");
            } catch (const Poco::Exception&) {
            }
            failed[endpoint] = message;
            giveBack(std::move(session));
            forget(endpoint);
            if (response.getStatus() == Poco::Net::HTTPResponse::HTTP_BAD_REQUEST) {
                throw StoreError("etcd at " + endpoints_[endpoint] + " refused the request: " + message);
            }
        } catch (const Poco::Exception& error) {
            failed[endpoint] = error.displayText();
            forget(endpoint);
            // A write that went out without an answer may have been applied: sending it again
            // would find its own effect and look like a conflict. The caller reads to know.
            if (sent && !idempotent) {
                throw EtcdOutcomeUnknown("etcd did not answer a write (" + failures() + "); it may have applied it");
            }
        }
        if (attempt + 1 >= endpoints_.size()) {
            // Every endpoint failed once: pause a little before the next round.
            const auto pause = std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - Clock::now());
            if (pause.count() > 0) std::this_thread::sleep_for(pause);
        }
    }
    const std::string message =
        "etcd is unreachable within its deadline of " + std::to_string(deadline_.count()) + " ms (" + failures() + ")";
    throw EtcdUnavailable(message);
}

RangeResult EtcdClient::range(const std::string& key, const std::string& rangeEnd, std::int64_t limit,
                              std::optional<Deadline> until) {
    return rangeAt(key, rangeEnd, limit, 0, until.value_or(deadlineFromNow()));
}

RangeResult EtcdClient::rangeAt(const std::string& key, const std::string& rangeEnd, std::int64_t limit,
                                std::int64_t revision, Deadline until) {
    const auto text = post("/v3/kv/range", rangeBody(key, rangeEnd, limit, 0, revision), true, until);
    try {
        const auto object = parseObject(text);
        return {kvsOf(object), int64Of(object->getObject("header"), "revision"),
                object->has("more") && object->getValue<bool>("more")};
    } catch (const Poco::Exception& error) {
        throw EtcdUnavailable("etcd answered a range with something unreadable: " + error.displayText());
    }
}

RangeResult EtcdClient::rangeAll(const std::string& key, const std::string& rangeEnd) {
    constexpr std::int64_t kPage = 5000;  // keeps each answer far below etcd's message limits
    RangeResult all = range(key, rangeEnd, kPage);
    auto page = all;
    while (page.more && !page.kvs.empty()) {
        page = rangeAt(page.kvs.back().key + std::string(1, '\0'), rangeEnd, kPage, all.revision, deadlineFromNow());
        all.kvs.insert(all.kvs.end(), page.kvs.begin(), page.kvs.end());
    }
    all.more = false;
    return all;
}

TxnResult EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                          const std::vector<Operation>& failure, std::optional<Deadline> until) {
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
    const auto text = post("/v3/kv/txn", body, !writes, until.value_or(deadlineFromNow()));
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
    } catch (const Poco::Exception& error) {
        if (writes) throw EtcdOutcomeUnknown("etcd answered a transaction with something unreadable: " + error.displayText());
        throw EtcdUnavailable("etcd answered a transaction with something unreadable: " + error.displayText());
    }
}

}  // namespace gipam::store
