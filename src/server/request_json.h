// The JSON of requests gipam serves, read strictly: what is not of the expected shape is a
// BadRequest naming the field.
#pragma once

#include <Poco/JSON/Object.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gipam::server {

/// A request whose JSON is not of the protocol's shape; answered with 400 and this message.
class BadRequest : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The body as a JSON object.
Poco::JSON::Object::Ptr parseObject(std::string_view body);
/// A string field; absent or null counts as empty (Docker sends every field).
std::string stringField(const Poco::JSON::Object& request, const std::string& key);
/// A 64-bit count sent as a decimal string (JSON numbers lose precision past 2^53).
std::uint64_t numberField(const Poco::JSON::Object& request, const std::string& key);
/// A boolean field; absent or null counts as false.
bool boolField(const Poco::JSON::Object& request, const std::string& key);

}  // namespace gipam::server
