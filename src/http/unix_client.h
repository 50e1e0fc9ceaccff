// One HTTP request over a Unix socket: how gipam's commands talk to dockerd and to gipam itself.
// A leaf: it knows nothing of what is asked.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace gipam::http {

/// Thrown when the socket cannot be reached or the exchange breaks; names the socket.
class UnreachableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Reply {
    int status;
    std::string body;
};

/// Sends `method path` with `body` (JSON, if any) to the HTTP server on `socket`, with a
/// timeout of `seconds` for the whole exchange.
Reply overUnixSocket(const std::filesystem::path& socket, const std::string& method, const std::string& path,
                    const std::string& body = "", int seconds = 30);

}  // namespace gipam::http
