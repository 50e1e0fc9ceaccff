#include "main/commands.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "ipam/service.h"
#include "json/json_string.h"
#include "fs/atomic_file.h"
#include "main/findings_report.h"
#include "reconcile/findings.h"
#include "reconcile/rebuild.h"
#include "http/unix_client.h"
#include "server/admin_api.h"
#include "store/lease_codec.h"
#include "store/file/lease_file.h"

namespace gipam::commands {
namespace {

using reconcile::Findings;
namespace admin = server::admin;

store::Leases leasesIn(const std::string& file) {
    auto leases = store::readLeaseFile(file);
    if (!leases) throw store::StoreError("lease file " + std::filesystem::absolute(file).string() + " does not exist");
    return std::move(*leases);
}

std::string requestAddressBody(const std::string& poolId, const ip::Address& address) {
    return R"({"PoolID":)" + json::quote(poolId) + R"(,"Address":)" + json::quote(address.toString()) +
           R"(,"Options":null})";
}

struct Look {
    ipam::IpamService::Observation observation;
    Findings findings;
};

// One look: gipam's state with its change number first, then Docker's, so that whatever Docker
// set up while we looked at gipam shows as used, not leaked.
Look look(const config::Config& config) {
    const auto reply = http::overUnixSocket(config.socketPath, "POST", std::string(admin::kObserve), "{}");
    if (reply.status != 200) {
        throw std::runtime_error("gipam on " + config.socketPath + " refused to be observed (" +
                                 std::to_string(reply.status) + "): " + reply.body);
    }
    Look look{admin::decodeObservation(reply.body), {}};
    look.findings = reconcile::compare(look.observation.leases,
                                       reconcile::readDockerPools(config.dockerSocket, config.name),
                                       &look.observation.heldForAll);
    look.findings.storeLeaks = look.observation.storeLeaks;
    return look;
}

}  // namespace

int check(const config::Config& config) {
    // With etcd, a node's share of its shared pools and what it holds in etcd are known to the
    // running gipam only.
    const auto findings = config.etcdEndpoints.empty()
                              ? reconcile::compare(leasesIn(config.file),
                                                   reconcile::readDockerPools(config.dockerSocket, config.name))
                              : look(config).findings;
    std::cout << (config.json ? findingsJson(findings) : findingsText(findings));
    if (!config.metricsFile.empty()) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        fs::writeFileAtomically(config.metricsFile,
                                findingsMetrics(findings, std::chrono::duration_cast<std::chrono::seconds>(now).count()),
                                0644);
    }
    if (config.reserveMissing) {
        for (const auto& missing : findings.missingAddresses) {
            const auto reply = http::overUnixSocket(config.socketPath, "POST", "/IpamDriver.RequestAddress",
                                                       requestAddressBody(missing.poolId, missing.address));
            std::cerr << (reply.status == 200 ? "held " : "could not hold ") << missing.address.toString() << " in "
                      << missing.poolId << (reply.status == 200 ? "" : ": " + reply.body) << "\n";
        }
    }
    return findings.empty() ? 0 : 1;
}

int gc(const config::Config& config) {
    const auto first = look(config);
    const auto count = [](const Findings& findings) {
        return std::to_string(findings.leakedPools.size()) + " leaked pools, " +
               std::to_string(findings.leakedAddresses.size()) + " leaked addresses" +
               (findings.storeLeaks.empty() ? "" : ", " + std::to_string(findings.storeLeaks.size()) + " leaked in etcd");
    };
    std::cout << "first look: " << count(first.findings) << "\n";
    if (first.findings.leakedPools.empty() && first.findings.leakedAddresses.empty() && first.findings.storeLeaks.empty()) {
        return 0;
    }
    std::cout << "second look in " << config.graceSeconds << " s (--grace)" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(config.graceSeconds));
    const auto second = look(config);
    std::cout << "second look: " << count(second.findings) << "\n";

    // Leaked both times; and the release itself is refused if anything in the pool was released
    // since the first look (a released address may have gone to a new container since).
    std::set<std::string> pools;
    for (const auto& pool : second.findings.leakedPools) pools.insert(pool.poolId);
    std::set<std::pair<std::string, ip::Address>> addresses;
    for (const auto& leak : second.findings.leakedAddresses) addresses.insert({leak.poolId, leak.address});
    int released = 0;
    const auto release = [&](const std::string& poolId, const std::string& address, const std::string& what) {
        if (config.dryRun) {
            std::cout << "would release " << what << "\n";
            return;
        }
        const auto body =
            admin::encodeReleaseLeaked({poolId, address, first.observation.change, first.observation.observationId});
        const auto reply = http::overUnixSocket(config.socketPath, "POST", std::string(admin::kReleaseLeaked), body);
        if (reply.status == 200 && admin::decodeReleased(reply.body)) {
            std::cout << "released " << what << "\n";
            ++released;
        } else {
            std::cout << "kept " << what << ": it changed since the first look (" << reply.body << ")\n";
        }
    };
    for (const auto& pool : first.findings.leakedPools) {
        if (pools.count(pool.poolId)) release(pool.poolId, "", "pool " + pool.poolId);
    }
    for (const auto& leak : first.findings.leakedAddresses) {
        if (addresses.count({leak.poolId, leak.address})) {
            release(leak.poolId, leak.address.toString(), "address " + leak.address.toString() + " of " + leak.poolId);
        }
    }
    // In etcd: what was there, unchanged (the same revision), at both looks.
    for (const auto& leak : first.findings.storeLeaks) {
        if (std::find(second.findings.storeLeaks.begin(), second.findings.storeLeaks.end(), leak) ==
            second.findings.storeLeaks.end()) {
            continue;
        }
        if (config.dryRun) {
            std::cout << "would free " << leak.what << "\n";
            continue;
        }
        const auto reply = http::overUnixSocket(config.socketPath, "POST", std::string(admin::kReleaseStoreLeak),
                                                   admin::encodeStoreLeak(leak));
        if (reply.status == 200 && admin::decodeReleased(reply.body)) {
            std::cout << "freed " << leak.what << "\n";
            ++released;
        } else {
            std::cout << "kept " << leak.what << ": it changed since the first look (" << reply.body << ")\n";
        }
    }
    std::cout << (config.dryRun ? "dry run: nothing released\n" : std::to_string(released) + " released\n");
    return 0;
}

int rebuild(const config::Config& config) {
    store::LeaseFile leaseFile(config.file);  // refuses while a gipam runs on it
    if (leaseFile.load()) {
        throw store::StoreError("lease file " + leaseFile.path().string() +
                                " exists; gipam rebuild writes only a new one (move it away first)");
    }
    store::Leases leases = config::initialLeases(config);
    const auto rebuilt = reconcile::poolsFromDocker(reconcile::readDockerPools(config.dockerSocket, config.name));
    leases.pools = rebuilt.pools;
    // Refuses overlaps, a pool covering a supernet, addresses it cannot hold.
    ipam::validateLeases(leases);
    leaseFile.save(leases);
    std::size_t held = 0;
    for (const auto& pool : leases.pools) held += pool.addresses.size();
    std::cout << "wrote " << leaseFile.path().string() << ": " << leases.pools.size() << " pools, " << held
              << " address runs, from Docker's networks\n"
              << "not recovered: --ipam-opt options (Docker does not show them); PoolIDs of networks the Go gipam "
                 "made (random, and Docker does not show them): remove and recreate those networks\n";
    if (rebuilt.swarmNetworks) {
        std::cout << "swarm networks (" << rebuilt.swarmNetworks
                  << "): rebuilt as this node sees them; run rebuild on each manager\n";
    }
    return 0;
}

}  // namespace gipam::commands
