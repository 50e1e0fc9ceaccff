// gipam: wiring of configuration, lease file, IPAM service and plugin server; signal handling.
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>

#include "ipam/service.h"
#include "log/log.h"
#include "main/commands.h"
#include "main/config.h"
#include "main/leases_report.h"
#include "server/metrics_server.h"
#include "server/plugin_server.h"
#include "server/systemd.h"
#include "store/etcd/cluster_keeper.h"
#include "store/etcd/cluster_store.h"
#include "store/lease_codec.h"
#include "store/etcd/node_registration.h"
#include "store/file/lease_file.h"
#include "store/snapshot_store.h"

namespace {

using namespace gipam;

std::string describeSupernets(const store::Leases& leases) {
    std::string text;
    for (const auto& supernet : {leases.v4, leases.v6}) {
        if (!supernet) continue;
        if (!text.empty()) text += ", ";
        text += supernet->prefix.toString() + " in /" + std::to_string(supernet->blockLength) + " blocks";
    }
    for (std::size_t i = 0; i < leases.excluded.size(); ++i) {
        text += (i ? "," : ", excluding ") + store::exclusionText(leases.excluded[i]);
    }
    return text;
}

// Blocks the stop signals in every thread, so that only sigwait() sees them.
sigset_t blockStopSignals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    return signals;
}

// `gipam leases`: reads the file without its lock, beside a running gipam or without one.
int printLeases(const config::Config& config) {
    const auto file = std::filesystem::absolute(config.file).string();
    const auto leases = store::readLeaseFile(config.file);
    if (!leases) {
        std::cerr << "gipam: lease file " << file << " does not exist\n";
        return 1;
    }
    std::cout << (config.json ? report::leasesJson(*leases, file, config.verbose)
                              : report::leasesText(*leases, file, config.verbose));
    return 0;
}

// `gipam node remove NODE`: frees in etcd what a node that is gone for good held.
int removeNode(const config::Config& config) {
    store::EtcdClient etcd(config.etcdEndpoints, store::EtcdTls{config.etcdCa, config.etcdCertificate, config.etcdKey});
    const auto removal = store::ClusterStore::removeNode(etcd, config.etcdPrefix, config.removeNode,
                                                         std::chrono::steady_clock::now() + std::chrono::seconds(30));
    std::cout << "freed in etcd for node " << config.removeNode << ": " << removal.blocks << " block(s), "
              << removal.addresses << " address(es) in shared pools, its hold of " << removal.pools
              << " shared or swarm pool(s) (" << removal.deleted << " of them deleted: it was the last to hold them)\n";
    return 0;
}

// How long the start may wait for etcd: the identity check, and a stale liveness key of this
// lease file's earlier process expiring.
constexpr std::chrono::seconds kStartDeadline{20};

// The commands that are not the daemon. check's exit status 1 means "found something", so their
// errors exit with 2.
int runCommand(const config::Config& config) {
    try {
        switch (config.command) {
            case config::Command::Leases: return printLeases(config);
            case config::Command::Check: return commands::check(config);
            case config::Command::Gc: return commands::gc(config);
            case config::Command::Rebuild: return commands::rebuild(config);
            case config::Command::NodeRemove: return removeNode(config);
            case config::Command::Serve: break;
        }
    } catch (const std::exception& error) {
        std::cerr << "gipam: " << error.what() << "\n";
    }
    return 2;
}

// With etcd: the first host writes the supernets into etcd, the others take what etcd holds and
// warn about flags or a lease file that differ. Unreachable etcd leaves the lease file's plan.
// True if `leases` now has etcd's supernets instead of its own (the lease file is to be saved).
bool adoptPlan(const config::Config& config, store::EtcdClient& etcd, store::Leases& leases) {
    store::Leases plan;
    try {
        plan = store::ClusterStore::agreePlan(etcd, config.etcdPrefix, leases,
                                              std::chrono::steady_clock::now() + std::chrono::seconds(3));
    } catch (const store::EtcdUnavailable& error) {
        log::warning(std::string("etcd is unreachable at start, serving the lease file's plan: ") + error.what());
        return false;
    }
    if (plan.v4 == leases.v4 && plan.v6 == leases.v6 && plan.excluded == leases.excluded) {
        log::info("address plan shared through etcd (" + etcd.endpoints().front() + "): " + describeSupernets(plan));
        return false;
    }
    const auto differences = config::differencesFromLeases(config, plan);
    log::warning("etcd holds the address plan " + describeSupernets(plan) + ", not this node's " +
                 describeSupernets(leases) + "; using etcd's" +
                 (differences.empty() ? std::string() : " (ignoring flags that differ from it)"));
    leases.v4 = plan.v4;
    leases.v6 = plan.v6;
    leases.excluded = plan.excluded;
    return true;
}

int run(const config::Config& config) {
    store::LeaseFile leaseFile(config.file);
    store::Leases leases;
    if (auto stored = leaseFile.load()) {
        leases = std::move(*stored);
        const auto differences = config::differencesFromLeases(config, leases);
        if (!differences.empty()) {
            std::string joined;
            for (const auto& difference : differences) joined += (joined.empty() ? "" : ", ") + difference;
            log::warning("ignoring settings that differ from lease file " + config.file + ": " + joined +
                         "; the lease file is the truth (stop gipam and edit it to change supernets or exclusions)");
        }
    } else {
        // Right on a first start; after a wrong mount or working directory it means handing out
        // blocks that live networks use, so say loudly where gipam looked.
        log::warning("lease file " + std::filesystem::absolute(leaseFile.path()).string() +
                     " does not exist: starting with no pools held; if gipam ran on this host before, stop it "
                     "and restore that file");
        leases = config::initialLeases(config);
        leaseFile.save(leases);
        log::info("created lease file " + config.file);
    }
    if (!leases.v4) {
        log::warning(
            "no IPv4 supernet: Docker before 28 asks for an IPv4 pool on every network create, so "
            "networks need --ipv4=false (Docker 28+) or an IPv4 --subnet");
    }

    std::optional<store::EtcdClient> etcd;
    bool saveLeases = false;
    if (!config.etcdEndpoints.empty()) {
        // The lease file says which node it belongs to, and which instance of it: checked against
        // etcd before anything is claimed there.
        if (leases.node && leases.node->id != config.nodeId) {
            throw store::StoreError("lease file " + config.file + " belongs to node " + leases.node->id + ", not " +
                                    config.nodeId + " (--node-id): start it with --node-id " + leases.node->id +
                                    ", or give node " + config.nodeId + " a lease file of its own");
        }
        if (!leases.node) {
            leases.node = store::NodeIdentity{config.nodeId, store::newNonce() + store::newNonce()};
            saveLeases = true;
        }
        etcd.emplace(config.etcdEndpoints, store::EtcdTls{config.etcdCa, config.etcdCertificate, config.etcdKey});
        saveLeases = adoptPlan(config, *etcd, leases) || saveLeases;
    }
    store::SnapshotStore fileStore(leases, [&leaseFile](const store::Leases& state) { leaseFile.save(state); });
    std::optional<store::NodeRegistration> registration;
    std::optional<store::ClusterStore> clusterStore;
    if (etcd) {
        registration.emplace(*etcd, store::EtcdKeys{config.etcdPrefix}, *leases.node, config.file);
        clusterStore.emplace(fileStore, *etcd, *registration, config.etcdPrefix);
    }
    store::LeaseStore& store = clusterStore ? static_cast<store::LeaseStore&>(*clusterStore) : fileStore;
    // The service checks the leases before anything is written or claimed: a bad lease file stops
    // gipam, untouched.
    std::vector<std::string> warnings;
    ipam::IpamService service = [&] {
        try {
            return ipam::IpamService(leases, store, &warnings, config.reuseDelay);
        } catch (const ipam::IpamError& error) {
            throw store::StoreError("lease file " + config.file + ": " + error.what());
        }
    }();
    // The instance token is on disk before etcd hears of it.
    if (saveLeases) leaseFile.save(leases);
    std::optional<store::ClusterKeeper> keeper;
    if (clusterStore) {
        clusterStore->adopt(service.heldPools());
        bool reconciled = false;
        try {
            const auto result = clusterStore->reconcile(true, std::chrono::steady_clock::now() + kStartDeadline);
            reconciled = true;
            log::info("node " + config.nodeId + " registered in etcd (instance " + leases.node->instance + "); " +
                      std::to_string(result.registered) + " claim(s) registered, " + std::to_string(result.freed) +
                      " freed");
        } catch (const store::EtcdUnavailable& error) {
            log::warning(std::string("etcd is unreachable at start: ") + error.what() +
                         "; pools of this node's own keep working, the rest waits for etcd, and gipam checks its "
                         "node identity and reconciles once etcd answers");
        }
        keeper.emplace(*clusterStore, *registration, std::chrono::seconds(config.reconcileSeconds), reconciled);
    }
    for (const auto& warning : warnings) log::warning("lease file " + config.file + ": " + warning);
    log::info("serving " + describeSupernets(leases) + "; " + std::to_string(leases.pools.size()) + " pools held in " +
              config.file);

    server::PluginApi api(service);
    std::optional<server::MetricsServer> metricsServer;
    if (!config.metricsAddress.empty()) {
        metricsServer.emplace(api, config.metricsAddress);
        metricsServer->start();
    }
    std::optional<server::TlsConfig> tls;
    if (!config.tlsCertificate.empty()) {
        tls = server::TlsConfig{config.tlsCertificate, config.tlsKey, config.tlsCa, config.dockerTlsCertificate,
                                config.dockerTlsKey};
        if (config.dockerTlsCertificate.empty()) {
            log::warning("no --docker-tls-cert: the spec file names no client certificate, so dockerd on this host "
                         "cannot connect");
        }
    }
    server::PluginServer server(
        api, {config.address, config.socketPath, config.socketGroup, config.specDir, config.name, tls});
    server.start();
    server::notifySystemd("READY=1");
    const server::Watchdog watchdog([&service] { return service.writeInFlightFor(); });

    const sigset_t signals = blockStopSignals();
    int signal = 0;
    sigwait(&signals, &signal);
    log::info(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT"));
    server::notifySystemd("STOPPING=1");
    server.stop();
    keeper.reset();  // after the last request: its liveness key goes last
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Before any thread exists, so every thread inherits the mask.
    blockStopSignals();
    const auto parsed = config::parseCommandLine(std::vector<std::string>(argv, argv + argc));
    if (!parsed.config) return parsed.exitCode;
    log::setLevel(parsed.config->logLevel);
    log::setStreams(parsed.config->logSplit ? log::Streams::Split : log::Streams::Stderr);
    try {
        if (parsed.config->command != config::Command::Serve) return runCommand(*parsed.config);
        return run(*parsed.config);
    } catch (const config::UsageError& error) {
        std::cerr << "gipam: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        log::error(error.what());
        return 1;
    }
}
