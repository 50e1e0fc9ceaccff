// Test support: runs the real gipam binary on temporary paths and speaks HTTP to it.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gipam::testing {

/// A temporary directory removed (recursively) on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

/// One client connection (Unix socket or TCP) that sends raw HTTP/1.1 requests, so tests
/// control every byte (empty Host, no Content-Type) and can reuse the connection.
class HttpConnection {
public:
    static HttpConnection unix(const std::filesystem::path& socket);
    static HttpConnection tcp(int port);
    ~HttpConnection();
    HttpConnection(HttpConnection&& other) noexcept;
    HttpConnection(const HttpConnection&) = delete;

    /// Sends bytes as they are.
    void sendRaw(const std::string& bytes);
    /// Reads one response (Content-Length framed); nullopt if the server closed the connection.
    std::optional<HttpResponse> readResponse(int timeoutMs = 10000);
    /// POST like dockerd: empty Host, no Content-Type, body followed by a newline.
    HttpResponse post(const std::string& path, const std::string& body);

private:
    explicit HttpConnection(int fd) : fd_(fd) {}
    int fd_;
    std::string buffered_;
};

/// The gipam binary running with the given arguments; stderr goes to a log file.
class GipamProcess {
public:
    /// Starts the binary and, unless waitForSocket is empty, waits until that path accepts
    /// connections (or the process exits). `beforeExec` runs in the child, after `env` is set.
    GipamProcess(std::vector<std::string> args, std::filesystem::path logFile,
                 std::optional<std::filesystem::path> waitForSocket, std::map<std::string, std::string> env = {},
                 const std::function<void()>& beforeExec = {});
    ~GipamProcess();
    GipamProcess(const GipamProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    /// Sends the signal and waits for the exit; returns the exit status (or 128+signal).
    int stop(int signal = SIGTERM);
    /// Waits up to timeoutMs for the process to exit by itself; its exit status, or nullopt.
    std::optional<int> waitExit(int timeoutMs = 10000);
    std::string log() const;

private:
    pid_t pid_ = -1;
    std::optional<int> exitStatus_;
    std::filesystem::path logFile_;
};

/// Runs gipam to completion (for startup failures); returns {exit status, stderr+stdout}.
std::pair<int, std::string> runToExit(std::vector<std::string> args, std::map<std::string, std::string> env = {});

std::string readFile(const std::filesystem::path& path);
void writeFile(const std::filesystem::path& path, const std::string& text);

/// The address of a Unix socket at `path`, for bind() and connect().
sockaddr_un unixSocketAddress(const std::filesystem::path& path);

/// A TCP connection to 127.0.0.1:port; -1 if nothing listens there.
int connectLoopback(int port);

/// A free TCP port on 127.0.0.1 (bound and released).
int freeLoopbackPort();

}  // namespace gipam::testing
