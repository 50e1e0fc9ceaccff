#include "support/etcd_cluster.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <csignal>
#include <thread>

namespace gipam::testing {
namespace {

// The etcd to run: GIPAM_TEST_ETCD (ctest runs the etcd tests with 3.5 this way), else Debian's.
const char* etcdBinary() {
    const char* chosen = std::getenv("GIPAM_TEST_ETCD");
    return chosen && *chosen ? chosen : "/usr/bin/etcd";
}

// GET /health on 127.0.0.1:port: {"health":"true"} once the member has a leader.
bool plainHealthy(int port) {
    const int fd = connectLoopback(port);
    bool ok = false;
    if (fd >= 0) {
        const std::string request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        timeval timeout{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
            std::string answer;
            char buffer[512];
            ssize_t n;
            while ((n = ::read(fd, buffer, sizeof buffer)) > 0) answer.append(buffer, static_cast<size_t>(n));
            ok = answer.find("\"health\":\"true\"") != std::string::npos;
        }
        ::close(fd);
    }
    return ok;
}

}  // namespace

bool EtcdCluster::installed() {
    return ::access(etcdBinary(), X_OK) == 0;
}

EtcdCluster::EtcdCluster(int size, std::optional<EtcdServerTls> tls) : tls_(std::move(tls)) {
    if (!installed()) return;
    for (int i = 0; i < size; ++i) {
        members_.push_back({"m" + std::to_string(i), freeLoopbackPort(), freeLoopbackPort()});
        initialCluster_ += (i ? "," : "") + members_[i].name + "=http://127.0.0.1:" + std::to_string(members_[i].peerPort);
    }
    for (int i = 0; i < size; ++i) start(i);
}

EtcdCluster::~EtcdCluster() {
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) kill(i);
}

void EtcdCluster::start(int index) {
    auto& member = members_[index];
    const auto data = dir_ / member.name;
    const auto log = dir_ / (member.name + ".log");
    const std::string client = (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(member.clientPort);
    const std::string peer = "http://127.0.0.1:" + std::to_string(member.peerPort);
    std::vector<std::string> args{etcdBinary(), "--name", member.name, "--data-dir", data.string(),
                                  "--listen-client-urls", client, "--advertise-client-urls", client,
                                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                  "--initial-cluster", initialCluster_, "--initial-cluster-token", "gipam-test",
                                  // Short elections: a killed member's place is taken quickly.
                                  "--heartbeat-interval", "50", "--election-timeout", "500"};
    if (tls_) {
        args.insert(args.end(), {"--cert-file", tls_->certificate.string(), "--key-file", tls_->key.string(),
                                 "--trusted-ca-file", tls_->ca.string(), "--client-cert-auth"});
    }
    member.pid = ::fork();
    if (member.pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        ::execv(etcdBinary(), argv.data());
        ::_exit(127);
    }
}

bool EtcdCluster::healthy(const Member& member) const {
    if (!tls_) return plainHealthy(member.clientPort);
    // The same question over TLS, asked with curl (a test dependency) and the members' own key.
    const std::string command = "curl -sf --max-time 2 --cacert '" + tls_->ca.string() + "' --cert '" +
                                tls_->certificate.string() + "' --key '" + tls_->key.string() +
                                "' https://127.0.0.1:" + std::to_string(member.clientPort) +
                                "/health 2>/dev/null | grep -q '\"health\":\"true\"'";
    return std::system(command.c_str()) == 0;
}

bool EtcdCluster::waitHealthy(int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (const auto& member : members_) {
        while (!healthy(member)) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    return !members_.empty();
}

std::vector<std::string> EtcdCluster::endpoints() const {
    std::vector<std::string> urls;
    for (const auto& member : members_) {
        urls.push_back((tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(member.clientPort));
    }
    return urls;
}

std::string EtcdCluster::endpointList() const {
    std::string list;
    for (const auto& url : endpoints()) list += (list.empty() ? "" : ",") + url;
    return list;
}

void EtcdCluster::kill(int index) {
    auto& member = members_[index];
    if (member.pid <= 0) return;
    ::kill(member.pid, SIGKILL);
    ::kill(member.pid, SIGCONT);
    ::waitpid(member.pid, nullptr, 0);
    member.pid = -1;
}

void EtcdCluster::pause(int index) {
    if (members_[index].pid > 0) ::kill(members_[index].pid, SIGSTOP);
}

void EtcdCluster::resume(int index) {
    if (members_[index].pid > 0) ::kill(members_[index].pid, SIGCONT);
}

void EtcdCluster::restart(int index) {
    kill(index);
    start(index);
}

}  // namespace gipam::testing
