#include "server/metrics_page.h"

#include "ipam/ipam_metrics.h"
#include "ipam/usage.h"
#include "metrics/metrics.h"
#include "server/request_metrics.h"
#include "store/store_metrics.h"

#ifndef GIPAM_VERSION
#define GIPAM_VERSION "dev"
#endif

namespace gipam::server {
namespace {

std::string number(ip::U128 value) {
    // Gauges are doubles; a /56 holds 2^72 addresses.
    return metrics::formatNumber(static_cast<double>(value));
}

void appendGauge(std::string& out, std::string_view name, std::string_view help) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " gauge\n";
}

}  // namespace

std::string metricsPage(const ipam::IpamService& service) {
    std::string out;
    requestMetrics().appendTo(out, GIPAM_VERSION);
    store::writeMetrics().appendTo(out);
    store::sharedStoreMetrics().appendTo(out);
    ipam::ipamMetrics().appendTo(out);

    const auto leases = service.snapshot();
    const auto usage = ipam::usageOf(leases);
    const auto each = [&](std::string_view name, std::string_view help, auto value) {
        appendGauge(out, name, help);
        for (const auto& supernet : usage.supernets) {
            out += std::string(name) + "{supernet=\"" + supernet.supernet.prefix.toString() + "\"} " + value(supernet) +
                   "\n";
        }
    };
    each("gipam_supernet_addresses", "Addresses in the supernet.",
         [](const ipam::SupernetUsage& s) { return number(s.addresses); });
    each("gipam_supernet_blocks", "Blocks of the supernet's block length in it.",
         [](const ipam::SupernetUsage& s) { return number(s.blocks); });
    each("gipam_supernet_blocks_held", "Pools inside the supernet, in blocks of its block length.",
         [](const ipam::SupernetUsage& s) { return metrics::formatNumber(s.blocksHeld); });
    each("gipam_supernet_pools", "Pools held inside the supernet.",
         [](const ipam::SupernetUsage& s) { return std::to_string(s.pools); });
    each("gipam_supernet_addresses_held", "Addresses held in the pools inside the supernet.",
         [](const ipam::SupernetUsage& s) { return number(s.addressesHeld); });

    std::size_t pools[2] = {0, 0};
    ip::U128 held[2] = {0, 0};
    std::size_t cooling[2] = {0, 0};
    for (const auto& pool : usage.pools) {
        const bool v6 = pool.record->prefix.family() == ip::Family::V6;
        ++pools[v6];
        held[v6] += pool.held;
        cooling[v6] += pool.cooling.size();
    }
    appendGauge(out, "gipam_pools", "Pools held, inside supernets or not.");
    out += "gipam_pools{family=\"ipv4\"} " + std::to_string(pools[0]) + "\ngipam_pools{family=\"ipv6\"} " +
           std::to_string(pools[1]) + "\n";
    appendGauge(out, "gipam_addresses_held", "Addresses held in all pools.");
    out += "gipam_addresses_held{family=\"ipv4\"} " + number(held[0]) + "\ngipam_addresses_held{family=\"ipv6\"} " +
           number(held[1]) + "\n";
    appendGauge(out, "gipam_addresses_cooling", "Released addresses not reused yet as their reuse delay runs.");
    out += "gipam_addresses_cooling{family=\"ipv4\"} " + std::to_string(cooling[0]) +
           "\ngipam_addresses_cooling{family=\"ipv6\"} " + std::to_string(cooling[1]) + "\n";
    return out;
}

}  // namespace gipam::server
