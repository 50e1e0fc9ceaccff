#include "server/plugin_api.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <charconv>

#include "json/json_string.h"
#include "server/admin_api.h"
#include "server/request_json.h"
#include "store/lease_codec.h"
#include "log/log.h"
#include "ipam/ipam_metrics.h"

namespace gipam::server {
namespace {

using Poco::JSON::Object;

ipam::Options optionsField(const Object& request) {
    ipam::Options options;
    if (!request.has("Options") || request.isNull("Options")) return options;
    const auto value = request.get("Options");
    if (value.type() != typeid(Object::Ptr)) throw BadRequest("field Options must be an object of strings");
    for (const auto& [key, option] : *value.extract<Object::Ptr>()) {
        if (!option.isString()) throw BadRequest("option " + key + " must be a string");
        options.emplace(key, option.extract<std::string>());
    }
    return options;
}

// A request value as a log line shows it: a client's text may be long or hold line breaks.
std::string shown(std::string_view value) {
    constexpr std::size_t kShownBytes = 128;
    std::string text(value.substr(0, kShownBytes));
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    if (value.size() > kShownBytes) text += "...";
    return text.empty() ? "\"\"" : text;
}

std::string describe(const ipam::PoolRequest& request) {
    std::string text = " (address space " + shown(request.addressSpace);
    text += request.pool.empty() ? std::string(", any block") : ", subnet " + shown(request.pool);
    if (!request.subPool.empty()) text += ", ip-range " + shown(request.subPool);
    return text + (request.v6 ? ", IPv6)" : ", IPv4)");
}

std::string describe(const ipam::AddressRequest& request) {
    std::string text = " (pool " + shown(request.poolId);
    text += request.address.empty() ? std::string(", any address") : ", address " + shown(request.address);
    if (const auto it = request.options.find(std::string(ipam::kEndpointNameOption)); it != request.options.end()) {
        text += ", endpoint " + shown(it->second);
    }
    return text + ")";
}

// Replies are written by hand: through a POCO Object they cost more than the rest of a request's
// handling together. `request` gets the decoded request's description for the log.
std::string requestPool(ipam::IpamService& service, const Object& object, std::string& request) {
    const ipam::PoolRequest decoded{stringField(object, "AddressSpace"), stringField(object, "Pool"),
                                    stringField(object, "SubPool"), optionsField(object), boolField(object, "V6")};
    request += describe(decoded);
    const auto grant = service.requestPool(decoded);
    return R"({"PoolID":)" + json::quote(grant.poolId) + R"(,"Pool":)" + json::quote(grant.pool.toString()) +
           R"(,"Data":{}})";
}

std::string requestAddress(ipam::IpamService& service, const Object& object, std::string& request) {
    const ipam::AddressRequest decoded{stringField(object, "PoolID"), stringField(object, "Address"),
                                       optionsField(object)};
    request += describe(decoded);
    const auto grant = service.requestAddress(decoded);
    return R"({"Address":)" + json::quote(grant.toString()) + R"(,"Data":{}})";
}

}  // namespace

std::string errorBody(std::string_view message) {
    return R"({"Err":)" + json::quote(message) + "}";
}

Reply PluginApi::handle(std::string_view path, std::string_view body) {
    // What the request asked, for the log line of a refusal.
    std::string request = shown(path.substr(path.empty() ? 0 : 1));
    try {
        if (path == kActivate) return {200, R"({"Implements":["IpamDriver"]})"};
        if (path == kGetCapabilities) {
            // With several nodes, a container's --ip must be told from an aux address on every
            // Docker: only a container's request then carries a MAC. One node needs no MACs.
            return {200, std::string(R"({"RequiresMACAddress":)") + (service_.multiNode() ? "true" : "false") +
                             R"(,"RequiresRequestReplay":false})"};
        }
        if (path == kGetDefaultAddressSpaces) {
            return {200, R"({"LocalDefaultAddressSpace":)" + json::quote(ipam::kLocalAddressSpace) +
                             R"(,"GlobalDefaultAddressSpace":)" + json::quote(ipam::kGlobalAddressSpace) + "}"};
        }
        if (path == kRequestPool) return {200, requestPool(service_, *parseObject(body), request)};
        if (path == kRequestAddress) return {200, requestAddress(service_, *parseObject(body), request)};
        if (path == kReleasePool) {
            const auto poolId = stringField(*parseObject(body), "PoolID");
            request += " (pool " + shown(poolId) + ")";
            service_.releasePool(poolId);
            return {200, "{}"};
        }
        if (path == kReleaseAddress) {
            const auto object = parseObject(body);
            const auto poolId = stringField(*object, "PoolID");
            const auto address = stringField(*object, "Address");
            request += " (pool " + shown(poolId) + ", address " + shown(address) + ")";
            service_.releaseAddress(poolId, address);
            return {200, "{}"};
        }
        if (path == admin::kObserve) return {200, admin::encodeObservation(service_.observe())};
        if (path == admin::kReleaseLeaked) {
            const auto release = admin::decodeReleaseLeaked(body);
            request += " (pool " + shown(release.poolId) +
                       (release.address.empty() ? "" : ", address " + shown(release.address)) + ")";
            return {200, admin::encodeReleased(service_.releaseLeaked(release.poolId, release.address,
                                                                      release.observedChange, release.observationId))};
        }
        if (path == admin::kReleaseStoreLeak) {
            const auto leak = admin::decodeStoreLeak(body);
            request += " (" + shown(leak.key) + ")";
            return {200, admin::encodeReleased(service_.releaseStoreLeak(leak))};
        }
        log::warning("unknown endpoint " + request + " refused");
        return {404, errorBody("unknown endpoint " + std::string(path) + "; gipam is an IpamDriver plugin")};
    } catch (const BadRequest& error) {
        log::warning(request + " refused as malformed: " + error.what());
        return {400, errorBody(error.what())};
    } catch (const ipam::IpamError& error) {
        ipam::ipamMetrics().countRefusal(error.reason());
        log::warning(request + " refused: " + error.what());
        return {500, errorBody(error.what())};
    } catch (const std::exception& error) {
        // Whatever else fails (the store, an answer it could not read) still gets an answer.
        log::error(request + " failed: " + error.what());
        return {500, errorBody(std::string("gipam could not answer: ") + error.what())};
    }
}

}  // namespace gipam::server
