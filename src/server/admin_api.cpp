#include "server/admin_api.h"

#include <Poco/JSON/Array.h>

#include <algorithm>
#include <sstream>

#include "json/json_string.h"
#include "server/request_json.h"
#include "store/lease_codec.h"

namespace gipam::server::admin {
namespace {

std::string leakJson(const store::StoreLeak& leak) {
    return R"({"Key":)" + json::quote(leak.key) + R"(,"Version":")" + std::to_string(leak.version) +
           R"(","What":)" + json::quote(leak.what) + "}";
}

store::StoreLeak leakOf(const Poco::JSON::Object& object) {
    store::StoreLeak leak{stringField(object, "Key"), static_cast<std::int64_t>(numberField(object, "Version")),
                          stringField(object, "What")};
    if (leak.key.empty()) throw BadRequest("field Key must name the leaked key");
    return leak;
}

// A member that holds lease-file JSON, read with the lease file's own codec.
store::Leases leasesOf(const Poco::JSON::Object& object, const std::string& key) {
    const auto member = object.getObject(key);
    if (!member) throw BadRequest("field " + key + " must be an object");
    std::ostringstream text;
    member->stringify(text);
    try {
        return store::decodeLeases(text.str());
    } catch (const store::FormatError& error) {
        throw BadRequest("field " + key + ": " + error.what());
    }
}

}  // namespace

std::string encodeObservation(const ipam::IpamService::Observation& observation) {
    // Addresses held for every node, per pool, in the lease file's form of a pool.
    store::Leases heldForAll;
    for (const auto& entry : observation.heldForAll) {
        const auto pool = std::find_if(observation.leases.pools.begin(), observation.leases.pools.end(),
                                       [&](const store::PoolRecord& record) { return record.id == entry.first; });
        if (pool == observation.leases.pools.end()) continue;
        heldForAll.pools.push_back({entry.first, pool->prefix, std::nullopt, {}, std::nullopt, entry.second, {}});
    }
    std::string leaks = "[";
    for (const auto& leak : observation.storeLeaks) leaks += (leaks.size() > 1 ? "," : "") + leakJson(leak);
    return R"({"Change":")" + std::to_string(observation.change) + R"(","Look":")" + std::to_string(observation.observationId) +
           R"(","Leases":)" + store::encodeLeases(observation.leases) + R"(,"HeldForAll":)" +
           store::encodeLeases(heldForAll) + R"(,"StoreLeaks":)" + leaks + "]}";
}

ipam::IpamService::Observation decodeObservation(std::string_view body) {
    const auto object = parseObject(body);
    ipam::IpamService::Observation observation{leasesOf(*object, "Leases"), numberField(*object, "Change"),
                                               numberField(*object, "Look"), {}, {}};
    if (object->has("HeldForAll")) {
        for (auto& pool : leasesOf(*object, "HeldForAll").pools) {
            observation.heldForAll.emplace(pool.id, std::move(pool.addresses));
        }
    }
    if (const auto leaks = object->getArray("StoreLeaks")) {
        for (std::size_t i = 0; i < leaks->size(); ++i) {
            const auto leak = leaks->getObject(static_cast<unsigned>(i));
            if (!leak) throw BadRequest("StoreLeaks must hold objects");
            observation.storeLeaks.push_back(leakOf(*leak));
        }
    }
    return observation;
}

std::string encodeReleaseLeaked(const ReleaseLeaked& request) {
    return R"({"PoolID":)" + json::quote(request.poolId) + R"(,"Address":)" + json::quote(request.address) +
           R"(,"ObservedChange":")" + std::to_string(request.observedChange) + R"(","Look":")" +
           std::to_string(request.observationId) + R"("})";
}

ReleaseLeaked decodeReleaseLeaked(std::string_view body) {
    const auto object = parseObject(body);
    return {stringField(*object, "PoolID"), stringField(*object, "Address"), numberField(*object, "ObservedChange"),
            numberField(*object, "Look")};
}

std::string encodeStoreLeak(const store::StoreLeak& leak) { return leakJson(leak); }

store::StoreLeak decodeStoreLeak(std::string_view body) { return leakOf(*parseObject(body)); }

std::string encodeReleased(bool released) { return std::string(R"({"Released":)") + (released ? "true" : "false") + "}"; }

bool decodeReleased(std::string_view body) { return boolField(*parseObject(body), "Released"); }

}  // namespace gipam::server::admin
