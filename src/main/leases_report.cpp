#include "main/leases_report.h"

#include <cstdio>

#include "ipam/usage.h"
#include "json/json_string.h"
#include "store/lease_codec.h"

namespace gipam::report {
namespace {

std::string run(const store::AddressRun& run) {
    return run.first == run.last ? run.first.toString() : run.first.toString() + "-" + run.last.toString();
}

std::string blocks(double count) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", count);
    return text;
}

std::string decimal(ip::U128 value) {
    return json::quote(ip::toDecimal(value));
}

}  // namespace

std::string leasesText(const store::Leases& leases, const std::string& file, bool verbose) {
    const auto usage = ipam::usageOf(leases);
    std::string out = "lease file " + file + "\n\nsupernets\n";
    if (usage.supernets.empty()) out += "  (none)\n";
    for (const auto& s : usage.supernets) {
        const double free = static_cast<double>(s.blocks) - s.blocksHeld;
        out += "  " + s.supernet.prefix.toString() + "  /" + std::to_string(s.supernet.blockLength) + " blocks: " +
               blocks(s.blocksHeld) + " held, " + blocks(free) + " free of " + ip::toDecimal(s.blocks) + "; " +
               std::to_string(s.pools) + " pools, " + ip::toDecimal(s.addressesHeld) + " addresses held\n";
    }
    if (!leases.excluded.empty()) {
        out += "  excluded (--exclude):";
        for (const auto& run : leases.excluded) out += " " + store::exclusionText(run);
        out += "\n";
    }
    out += "\npools\n";
    if (usage.pools.empty()) out += "  (none)\n";
    for (const auto& pool : usage.pools) {
        const auto& record = *pool.record;
        out += "  " + record.id + "  " + record.prefix.toString() + "  " +
               std::string(ip::familyName(record.prefix.family())) + "  " + ip::toDecimal(pool.held) + " of " +
               ip::toDecimal(pool.usable) + " addresses held";
        if (!pool.cooling.empty()) out += ", " + std::to_string(pool.cooling.size()) + " cooling";
        if (record.subPool) out += "  ip-range " + record.subPool->toString();
        if (!record.options.empty()) {
            out += "  options";
            for (const auto& [key, value] : record.options) out += " " + key + "=" + value;
        }
        out += "\n";
        if (verbose && !record.addresses.empty()) {
            out += "    ";
            for (std::size_t i = 0; i < record.addresses.size(); ++i) {
                out += (i ? ", " : "") + run(record.addresses[i]);
            }
            out += "\n";
        }
        if (verbose && !pool.cooling.empty()) {
            out += "    cooling:";
            for (const auto& cooling : pool.cooling) {
                out += " " + cooling.address.toString() + " until " + store::formatTime(cooling.until);
            }
            out += "\n";
        }
    }
    return out;
}

std::string leasesJson(const store::Leases& leases, const std::string& file, bool verbose) {
    const auto usage = ipam::usageOf(leases);
    std::string out = R"({"file":)" + json::quote(file) + R"(,"supernets":[)";
    for (std::size_t i = 0; i < usage.supernets.size(); ++i) {
        const auto& s = usage.supernets[i];
        out += std::string(i ? "," : "") + R"({"prefix":)" + json::quote(s.supernet.prefix.toString()) +
               R"(,"family":)" + json::quote(ip::familyName(s.supernet.prefix.family())) +
               R"(,"blockLength":)" + std::to_string(s.supernet.blockLength) + R"(,"blocks":)" + decimal(s.blocks) +
               R"(,"blocksHeld":)" + blocks(s.blocksHeld) + R"(,"pools":)" + std::to_string(s.pools) +
               R"(,"addresses":)" + decimal(s.addresses) + R"(,"addressesHeld":)" + decimal(s.addressesHeld) + "}";
    }
    out += R"(],"excluded":[)";
    for (std::size_t i = 0; i < leases.excluded.size(); ++i) {
        out += (i ? "," : "") + json::quote(store::exclusionText(leases.excluded[i]));
    }
    out += R"(],"pools":[)";
    for (std::size_t i = 0; i < usage.pools.size(); ++i) {
        const auto& pool = usage.pools[i];
        const auto& record = *pool.record;
        out += std::string(i ? "," : "") + R"({"id":)" + json::quote(record.id) + R"(,"pool":)" +
               json::quote(record.prefix.toString()) + R"(,"family":)" +
               json::quote(ip::familyName(record.prefix.family())) + R"(,"ipRange":)" +
               (record.subPool ? json::quote(record.subPool->toString()) : "null") + R"(,"options":{)";
        std::size_t n = 0;
        for (const auto& [key, value] : record.options) out += (n++ ? "," : "") + json::quote(key) + ":" + json::quote(value);
        out += R"(},"held":)" + decimal(pool.held) + R"(,"usable":)" + decimal(pool.usable) +
               R"(,"cooling":)" + std::to_string(pool.cooling.size());
        if (verbose) {
            out += R"(,"addresses":[)";
            for (std::size_t j = 0; j < record.addresses.size(); ++j) {
                out += (j ? "," : "") + json::quote(run(record.addresses[j]));
            }
            out += R"(],"coolingUntil":{)";
            for (std::size_t j = 0; j < pool.cooling.size(); ++j) {
                out += (j ? "," : "") + json::quote(pool.cooling[j].address.toString()) + ":" +
                       json::quote(store::formatTime(pool.cooling[j].until));
            }
            out += "}";
        }
        out += "}";
    }
    return out + "]}\n";
}

}  // namespace gipam::report
