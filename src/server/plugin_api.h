// The IpamDriver protocol: decodes dockerd's JSON, calls the IPAM service, encodes answers.
#pragma once

#include <string>
#include <string_view>

#include "ipam/service.h"

namespace gipam::server {

/// The paths dockerd calls on an IPAM plugin, in the order /metrics lists them.
inline constexpr std::string_view kActivate = "/Plugin.Activate";
inline constexpr std::string_view kGetCapabilities = "/IpamDriver.GetCapabilities";
inline constexpr std::string_view kGetDefaultAddressSpaces = "/IpamDriver.GetDefaultAddressSpaces";
inline constexpr std::string_view kRequestPool = "/IpamDriver.RequestPool";
inline constexpr std::string_view kReleasePool = "/IpamDriver.ReleasePool";
inline constexpr std::string_view kRequestAddress = "/IpamDriver.RequestAddress";
inline constexpr std::string_view kReleaseAddress = "/IpamDriver.ReleaseAddress";
inline constexpr std::string_view kPluginPaths[] = {kActivate,   kGetCapabilities, kGetDefaultAddressSpaces, kRequestPool,
                                                    kReleasePool, kRequestAddress,  kReleaseAddress};

/// An HTTP status and a JSON body.
struct Reply {
    int status;
    std::string body;
};

/// Maps one request (path and body) to one reply, with no socket of its own, so that it can be
/// tested and fuzzed without sockets; it logs every refusal. Success is 200 with a JSON object;
/// a refused request is 500 {"Err": ...}, and so is any other failure (every exception gets an
/// answer); undecodable input 400; an unknown path 404. The admin paths (server/admin_api.h)
/// are answered here too; who may ask them is the server's to check.
class PluginApi {
public:
    explicit PluginApi(ipam::IpamService& service) : service_(service) {}

    Reply handle(std::string_view path, std::string_view body);

    const ipam::IpamService& service() const { return service_; }

private:
    ipam::IpamService& service_;
};

/// {"Err":"<message>"} with the message escaped.
std::string errorBody(std::string_view message);

}  // namespace gipam::server
