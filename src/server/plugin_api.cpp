#include "server/plugin_api.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include "json/json_string.h"

namespace gipam::server {
namespace {

using Poco::JSON::Object;

// A request whose JSON is well-formed but not of the protocol's shape.
class BadRequest : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Object::Ptr parseObject(std::string_view body) {
    // POCO's messages for a bare value ("Attempt to set value on an empty stack") mean nothing
    // to a user.
    const auto start = body.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos || body[start] != '{') throw BadRequest("request body is not a JSON object");
    Poco::Dynamic::Var parsed;
    try {
        parsed = Poco::JSON::Parser().parse(std::string(body));
    } catch (const Poco::Exception& error) {
        throw BadRequest("request body is not a valid JSON object: " + error.message());
    }
    if (parsed.type() != typeid(Object::Ptr)) throw BadRequest("request body is not a JSON object");
    return parsed.extract<Object::Ptr>();
}

// Docker sends every field; absent or null counts as empty.
std::string stringField(const Object& request, const std::string& key) {
    if (!request.has(key) || request.isNull(key)) return {};
    const auto value = request.get(key);
    if (!value.isString()) throw BadRequest("field " + key + " must be a string");
    return value.extract<std::string>();
}

bool boolField(const Object& request, const std::string& key) {
    if (!request.has(key) || request.isNull(key)) return false;
    const auto value = request.get(key);
    if (!value.isBoolean()) throw BadRequest("field " + key + " must be true or false");
    return value.extract<bool>();
}

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

// Replies are written by hand: through a POCO Object they cost more than the rest of a request's
// handling together.
std::string requestPool(ipam::IpamService& service, const Object& request) {
    const auto grant =
        service.requestPool({stringField(request, "AddressSpace"), stringField(request, "Pool"),
                             stringField(request, "SubPool"), optionsField(request), boolField(request, "V6")});
    return R"({"PoolID":)" + json::quote(grant.poolId) + R"(,"Pool":)" + json::quote(grant.pool.toString()) +
           R"(,"Data":{}})";
}

std::string requestAddress(ipam::IpamService& service, const Object& request) {
    const auto grant = service.requestAddress(
        {stringField(request, "PoolID"), stringField(request, "Address"), optionsField(request)});
    return R"({"Address":)" + json::quote(grant.toString()) + R"(,"Data":{}})";
}

}  // namespace

std::string errorBody(std::string_view message) {
    return R"({"Err":)" + json::quote(message) + "}";
}

Reply PluginApi::handle(std::string_view path, std::string_view body) {
    try {
        if (path == "/Plugin.Activate") return {200, R"({"Implements":["IpamDriver"]})"};
        if (path == "/IpamDriver.GetCapabilities") {
            return {200, R"({"RequiresMACAddress":false,"RequiresRequestReplay":false})"};
        }
        if (path == "/IpamDriver.GetDefaultAddressSpaces") {
            return {200, R"({"LocalDefaultAddressSpace":)" + json::quote(ipam::kLocalAddressSpace) +
                             R"(,"GlobalDefaultAddressSpace":)" + json::quote(ipam::kGlobalAddressSpace) + "}"};
        }
        if (path == "/IpamDriver.RequestPool") return {200, requestPool(service_, *parseObject(body))};
        if (path == "/IpamDriver.RequestAddress") return {200, requestAddress(service_, *parseObject(body))};
        if (path == "/IpamDriver.ReleasePool") {
            service_.releasePool(stringField(*parseObject(body), "PoolID"));
            return {200, "{}"};
        }
        if (path == "/IpamDriver.ReleaseAddress") {
            const auto request = parseObject(body);
            service_.releaseAddress(stringField(*request, "PoolID"), stringField(*request, "Address"));
            return {200, "{}"};
        }
        return {404, errorBody("unknown endpoint " + std::string(path) + "; gipam is an IpamDriver plugin")};
    } catch (const BadRequest& error) {
        return {400, errorBody(error.what())};
    } catch (const ipam::IpamError& error) {
        return {500, errorBody(error.what())};
    }
}

}  // namespace gipam::server
