// Test support: real etcd members on loopback ports, each with its own data dir, stopped by PID.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/gipam_process.h"

namespace gipam::testing {

/// Client TLS for the members: their certificate and key, and the CA their clients' come from.
struct EtcdServerTls {
    std::filesystem::path certificate, key, ca;
};

/// `size` etcd members forming one cluster; empty when etcd is not installed (tests skip). The
/// binary is $GIPAM_TEST_ETCD, else /usr/bin/etcd.
/// With `tls`, clients speak https and need a certificate of the CA.
class EtcdCluster {
public:
    explicit EtcdCluster(int size = 1, std::optional<EtcdServerTls> tls = std::nullopt);
    ~EtcdCluster();
    EtcdCluster(const EtcdCluster&) = delete;

    static bool installed();
    /// Every member answers /health (true) within `seconds`.
    bool waitHealthy(int seconds = 20);
    /// Client URLs, "http://127.0.0.1:PORT" (https with TLS).
    std::vector<std::string> endpoints() const;
    std::string endpointList() const;  // comma-separated
    void kill(int member);             // SIGKILL, and reaped
    void restart(int member);          // same data dir and ports
    void pause(int member);            // SIGSTOP: it holds its connections and answers nothing
    void resume(int member);           // SIGCONT
    bool running(int member) const { return members_[member].pid > 0; }

private:
    struct Member {
        std::string name;
        int clientPort;
        int peerPort;
        pid_t pid = -1;
    };
    void start(int member);

    bool healthy(const Member& member) const;

    TempDir dir_;
    std::optional<EtcdServerTls> tls_;
    std::vector<Member> members_;
    std::string initialCluster_;
};

}  // namespace gipam::testing
