// `gipam check`'s report of its findings, as text and as JSON (--json).
#include "main/findings_report.h"

#include "json/json_string.h"
#include "server/admin_api.h"

namespace gipam::commands {

using reconcile::Findings;
namespace admin = server::admin;

std::string findingsJson(const Findings& findings) {
    std::string out = R"({"leakedPools":[)";
    for (std::size_t i = 0; i < findings.leakedPools.size(); ++i) {
        out += std::string(i ? "," : "") + R"({"poolId":)" + json::quote(findings.leakedPools[i].poolId) + R"(,"pool":)" +
               json::quote(findings.leakedPools[i].pool.toString()) + "}";
    }
    out += R"(],"leakedAddresses":[)";
    for (std::size_t i = 0; i < findings.leakedAddresses.size(); ++i) {
        out += std::string(i ? "," : "") + R"({"poolId":)" + json::quote(findings.leakedAddresses[i].poolId) +
               R"(,"address":)" + json::quote(findings.leakedAddresses[i].address.toString()) + "}";
    }
    out += R"(],"missingPools":[)";
    for (std::size_t i = 0; i < findings.missingPools.size(); ++i) {
        out += std::string(i ? "," : "") + R"({"network":)" + json::quote(findings.missingPools[i].network) +
               R"(,"subnet":)" + json::quote(findings.missingPools[i].subnet.toString()) + "}";
    }
    out += R"(],"missingAddresses":[)";
    for (std::size_t i = 0; i < findings.missingAddresses.size(); ++i) {
        const auto& missing = findings.missingAddresses[i];
        out += std::string(i ? "," : "") + R"({"network":)" + json::quote(missing.network) + R"(,"poolId":)" +
               json::quote(missing.poolId) + R"(,"address":)" + json::quote(missing.address.toString()) + R"(,"user":)" +
               json::quote(missing.user) + "}";
    }
    out += R"(],"foreign":[)";
    for (std::size_t i = 0; i < findings.foreign.size(); ++i) out += std::string(i ? "," : "") + json::quote(findings.foreign[i]);
    out += R"(],"storeLeaks":[)";
    for (std::size_t i = 0; i < findings.storeLeaks.size(); ++i) out += std::string(i ? "," : "") + admin::encodeStoreLeak(findings.storeLeaks[i]);
    return out + "]}\n";
}

std::string findingsMetrics(const Findings& findings, long long checkedAt) {
    std::string out;
    const auto gauge = [&](const char* name, const char* help, std::size_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
               std::to_string(value) + "\n";
    };
    gauge("gipam_check_missing_addresses", "Addresses Docker uses that gipam does not hold (gipam would hand them out again).",
          findings.missingAddresses.size());
    gauge("gipam_check_missing_pools", "Networks of Docker's on gipam with no pool for their subnet.",
          findings.missingPools.size());
    gauge("gipam_check_leaked_addresses", "Addresses gipam holds that no container or network uses.",
          findings.leakedAddresses.size());
    gauge("gipam_check_leaked_pools", "Pools gipam holds that no network uses.", findings.leakedPools.size());
    gauge("gipam_check_store_leaks", "Keys this node holds in etcd that none of its pools uses.", findings.storeLeaks.size());
    gauge("gipam_check_foreign_pools", "Pools of the lease file gipam did not make (the Go gipam's).", findings.foreign.size());
    out += "# HELP gipam_check_timestamp_seconds When gipam check last ran, in seconds since the epoch.\n"
           "# TYPE gipam_check_timestamp_seconds gauge\ngipam_check_timestamp_seconds " +
           std::to_string(checkedAt) + "\n";
    return out;
}

std::string findingsText(const Findings& findings) {
    if (findings.empty()) return "nothing leaked, nothing missing: gipam and Docker agree\n";
    std::string out;
    if (!findings.missingAddresses.empty() || !findings.missingPools.empty()) {
        out += "MISSING: Docker uses these and gipam does not hold them, so gipam WILL hand them out again "
               "(gipam check --reserve-missing holds the addresses; a missing pool needs gipam rebuild or a new "
               "network):\n";
        for (const auto& pool : findings.missingPools) out += "  pool    " + pool.subnet.toString() + "  of network " + pool.network + "\n";
        for (const auto& missing : findings.missingAddresses) {
            out += "  address " + missing.address.toString() + "  in " + missing.poolId + ", " + missing.user +
                   " of network " + missing.network + "\n";
        }
    }
    if (!findings.leakedPools.empty() || !findings.leakedAddresses.empty()) {
        out += "leaked: gipam holds these and no network or container of Docker's uses them (gipam gc releases "
               "them):\n";
        for (const auto& pool : findings.leakedPools) out += "  pool    " + pool.poolId + "\n";
        for (const auto& leaked : findings.leakedAddresses) {
            out += "  address " + leaked.address.toString() + "  in " + leaked.poolId + "\n";
        }
    }
    if (!findings.foreign.empty()) {
        out += "foreign: PoolIDs gipam did not make (the Go gipam's); gipam rebuild cannot recreate them:\n";
        for (const auto& id : findings.foreign) out += "  pool    " + id + "\n";
    }
    if (!findings.storeLeaks.empty()) {
        out += "leaked in etcd: this node holds these and none of its pools uses them (gipam gc frees them):\n";
        for (const auto& leak : findings.storeLeaks) out += "  " + leak.what + "  (" + leak.key + ")\n";
    }
    return out;
}

}  // namespace gipam::commands
