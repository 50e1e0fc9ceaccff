#include "server/spec_file.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "json/json_string.h"
#include "log/log.h"

namespace gipam::server {

std::string tlsSpec(const std::string& name, const std::string& address, const TlsConfig& tls) {
    const auto absolute = [](const std::filesystem::path& path) {
        return json::quote(std::filesystem::absolute(path).string());
    };
    std::string spec = R"({"Name":)" + json::quote(name) + R"(,"Addr":)" + json::quote("https://" + address) +
                       R"(,"TLSConfig":{"CAFile":)" + absolute(tls.ca);
    if (!tls.dockerCertificate.empty()) {
        spec += R"(,"CertFile":)" + absolute(tls.dockerCertificate) + R"(,"KeyFile":)" + absolute(tls.dockerKey);
    }
    return spec + R"(,"InsecureSkipVerify":false}})" + "\n";
}

namespace {

bool isSocket(const std::filesystem::path& path) {
    std::error_code error;
    return std::filesystem::is_socket(std::filesystem::symlink_status(path, error));
}

}  // namespace

void removeStaleSocket(const std::filesystem::path& path) {
    if (!isSocket(path)) return;
    try {
        Poco::Net::StreamSocket probe;
        probe.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path.string()));
    } catch (const Poco::Exception&) {
        std::filesystem::remove(path);
        log::info("removed stale socket " + path.string());
        return;
    }
    throw ListenError("socket " + path.string() + " is in use by a running process");
}

}  // namespace gipam::server
