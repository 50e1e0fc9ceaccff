#include "support/gipam_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace gipam::testing {

sockaddr_un unixSocketAddress(const std::filesystem::path& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    return address;
}

namespace {

int connectUnix(const std::filesystem::path& socket) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto address = unixSocketAddress(socket);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

int connectLoopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

namespace {

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gipam-test.XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

HttpConnection HttpConnection::unix(const std::filesystem::path& socket) {
    const int fd = connectUnix(socket);
    if (fd < 0) throw std::runtime_error("cannot connect to " + socket.string());
    return HttpConnection(fd);
}

HttpConnection HttpConnection::tcp(int port) {
    const int fd = connectLoopback(port);
    if (fd < 0) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    return HttpConnection(fd);
}

HttpConnection::HttpConnection(HttpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffered_(std::move(other.buffered_)) {}

HttpConnection::~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
}

void HttpConnection::sendRaw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        sent += static_cast<std::size_t>(n);
    }
}

std::optional<HttpResponse> HttpConnection::readResponse(int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    const auto fill = [&]() {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            throw std::runtime_error("timed out waiting for a response");
        }
        char chunk[65536];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffered_.append(chunk, static_cast<std::size_t>(n));
        return true;
    };
    std::size_t headerEnd;
    while ((headerEnd = buffered_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
    }
    HttpResponse response;
    std::istringstream head(buffered_.substr(0, headerEnd));
    std::string line;
    std::getline(head, line);
    response.status = std::stoi(line.substr(line.find(' ') + 1, 3));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[lower(line.substr(0, colon))] = value;
    }
    const std::size_t length =
        std::stoul(response.headers.count("content-length") ? response.headers["content-length"] : "0");
    while (buffered_.size() < headerEnd + 4 + length) {
        if (!fill()) return std::nullopt;
    }
    response.body = buffered_.substr(headerEnd + 4, length);
    buffered_.erase(0, headerEnd + 4 + length);
    return response;
}

HttpResponse HttpConnection::post(const std::string& path, const std::string& body) {
    const std::string payload = body.empty() ? "" : body + "\n";
    sendRaw("POST " + path + " HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: " +
            std::to_string(payload.size()) + "\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\r\n" + payload);
    auto response = readResponse();
    if (!response) throw std::runtime_error("connection closed before a response to " + path);
    return *response;
}

GipamProcess::GipamProcess(std::vector<std::string> args, std::filesystem::path logFile,
                           std::optional<std::filesystem::path> waitForSocket, std::map<std::string, std::string> env,
                           const std::function<void()>& beforeExec)
    : logFile_(std::move(logFile)) {
    pid_ = ::fork();
    if (pid_ == 0) {
        const int log = ::open(logFile_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(log, STDERR_FILENO);
        ::dup2(log, STDOUT_FILENO);
        for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
        if (beforeExec) beforeExec();
        std::vector<char*> argv;
        std::string binary = GIPAM_BINARY;
        argv.push_back(binary.data());
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    if (!waitForSocket) return;
    for (int i = 0; i < 500; ++i) {
        const int fd = connectUnix(*waitForSocket);
        if (fd >= 0) {
            ::close(fd);
            return;
        }
        if (!running()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

GipamProcess::~GipamProcess() {
    if (running()) stop(SIGKILL);
}

bool GipamProcess::running() {
    if (exitStatus_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exitStatus_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

std::optional<int> GipamProcess::waitExit(int timeoutMs) {
    for (int waited = 0; waited <= timeoutMs; waited += 10) {
        if (!running()) return exitStatus_;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
}

int GipamProcess::stop(int signal) {
    if (running()) ::kill(pid_, signal);
    if (auto status = waitExit(10000)) return *status;
    ::kill(pid_, SIGKILL);
    return waitExit(10000).value_or(-1);
}

std::string GipamProcess::log() const {
    return readFile(logFile_);
}

std::pair<int, std::string> runToExit(std::vector<std::string> args, std::map<std::string, std::string> env) {
    TempDir dir;
    GipamProcess process(std::move(args), dir / "output", std::nullopt, std::move(env));
    const auto status = process.waitExit(10000);
    return {status.value_or(-1), process.log()};
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

int freeLoopbackPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

}  // namespace gipam::testing
