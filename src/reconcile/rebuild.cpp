#include "reconcile/rebuild.h"

#include <map>
#include <string>
#include <string_view>

#include "ipam/requests.h"
#include "store/lease_codec.h"

namespace gipam::reconcile {

Rebuilt poolsFromDocker(const std::vector<DockerPool>& docker) {
    Rebuilt rebuilt;
    std::map<std::string, std::vector<ip::Address>> addresses;
    std::map<std::string, store::PoolRecord> pools;
    for (const auto& pool : docker) {
        std::vector<std::string_view> spaces = {ipam::kLocalAddressSpace};
        if (pool.swarm) {
            spaces.push_back(ipam::kGlobalAddressSpace);
            ++rebuilt.swarmNetworks;
        }
        for (const auto space : spaces) {
            const auto id = ipam::poolIdFor(space, pool.subnet, pool.subPool);
            pools.emplace(id, store::PoolRecord{id, pool.subnet, pool.subPool, {}, std::nullopt, {}, {}});
            for (const auto& entry : pool.addresses) addresses[id].push_back(entry.address);
            if (!pool.gatewayShown) addresses[id].push_back(pool.firstHost());
        }
    }
    for (auto& [id, pool] : pools) {
        pool.addresses = store::toRuns(addresses[id]);
        rebuilt.pools.push_back(pool);
    }
    return rebuilt;
}

}  // namespace gipam::reconcile
