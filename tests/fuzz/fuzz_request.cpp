// libFuzzer target: the request path. The first input byte picks an endpoint, the rest is the
// body; requests run against one scratch IpamService kept across inputs. After every request
// the state must survive the lease file: encode, decode, and rebuild must reproduce it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/plugin_api.h"
#include "store/lease_codec.h"
#include "store/snapshot_store.h"

namespace {

using namespace gipam;

constexpr std::string_view kPaths[] = {
    "/Plugin.Activate",           "/IpamDriver.GetCapabilities", "/IpamDriver.GetDefaultAddressSpaces",
    "/IpamDriver.RequestPool",    "/IpamDriver.ReleasePool",     "/IpamDriver.RequestAddress",
    "/IpamDriver.ReleaseAddress", "/IpamDriver.Unknown",
};

store::Leases scratchLeases() {
    return {store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24},
            store::Supernet{ip::Prefix::parse("2001:db8:100::/56"), 64},
            {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Keeps the state in memory, like a lease file that never fails.
    static auto* store = new store::SnapshotStore(scratchLeases(), [](const store::Leases&) {});
    static auto* service = new ipam::IpamService(scratchLeases(), *store);
    static std::size_t requests = 0;
    // Start over now and then so the state stays small and inputs stay fast.
    if (++requests % 256 == 0) {
        delete service;
        delete store;
        store = new store::SnapshotStore(scratchLeases(), [](const store::Leases&) {});
        service = new ipam::IpamService(scratchLeases(), *store);
    }
    if (size == 0) return 0;
    server::PluginApi api(*service);
    const auto path = kPaths[data[0] % std::size(kPaths)];
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto reply = api.handle(path, body);
    if (reply.status != 200 && reply.status != 400 && reply.status != 404 && reply.status != 500) std::abort();
    if (reply.body.empty() || reply.body.front() != '{') std::abort();

    const auto snapshot = service->snapshot();
    if (store::decodeLeases(store::encodeLeases(snapshot)) != snapshot) std::abort();
    store::SnapshotStore scratch(snapshot, [](const store::Leases&) {});
    if (ipam::IpamService(snapshot, scratch).snapshot() != snapshot) std::abort();
    return 0;
}
