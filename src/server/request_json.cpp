#include "server/request_json.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <charconv>

namespace gipam::server {

Poco::JSON::Object::Ptr parseObject(std::string_view body) {
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
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) throw BadRequest("request body is not a JSON object");
    return parsed.extract<Poco::JSON::Object::Ptr>();
}

std::string stringField(const Poco::JSON::Object& request, const std::string& key) {
    if (!request.has(key) || request.isNull(key)) return {};
    const auto value = request.get(key);
    if (!value.isString()) throw BadRequest("field " + key + " must be a string");
    return value.extract<std::string>();
}

std::uint64_t numberField(const Poco::JSON::Object& request, const std::string& key) {
    const auto text = stringField(request, key);
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        throw BadRequest("field " + key + " must be a decimal number in a string");
    }
    return value;
}

bool boolField(const Poco::JSON::Object& request, const std::string& key) {
    if (!request.has(key) || request.isNull(key)) return false;
    const auto value = request.get(key);
    if (!value.isBoolean()) throw BadRequest("field " + key + " must be true or false");
    return value.extract<bool>();
}

}  // namespace gipam::server
