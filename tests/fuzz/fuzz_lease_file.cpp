// libFuzzer target: the lease file loader. Any text either fails with FormatError/IpamError, or
// loads into a service whose state writes back and reads again unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ipam/service.h"
#include "store/lease_codec.h"
#include "store/snapshot_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace gipam;
    store::Leases leases;
    try {
        leases = store::decodeLeases(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const store::FormatError&) {
        return 0;
    }
    try {
        store::SnapshotStore discard(leases, [](const store::Leases&) {});
        const ipam::IpamService service(leases, discard);
        const auto snapshot = service.snapshot();
        if (store::decodeLeases(store::encodeLeases(snapshot)) != snapshot) std::abort();
    } catch (const ipam::IpamError&) {
    }
    return 0;
}
