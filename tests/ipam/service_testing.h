// Shared by the IPAM service tests: a store that records saves and fails on demand, and
// shorthands for prefixes, addresses and options.
#pragma once

#include <string>
#include <vector>

#include "ipam/service.h"
#include "store/snapshot_store.h"

namespace gipam::ipam::testing {

inline ip::Prefix prefix(std::string_view text) {
    return ip::Prefix::parse(text);
}
inline ip::Address address(std::string_view text) {
    return ip::Address::parse(text);
}

inline const Options kSerial{{std::string(kSerialOption), "true"}};
inline const Options kGateway{{std::string(kRequestAddressType), std::string(kGatewayType)}};

/// Supernets 198.18.0.0/16 in /24 blocks and 2001:db8:100::/56 in /64 blocks, no pools.
inline store::Leases dualStackSupernets() {
    return {store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24},
            store::Supernet{ip::Prefix::parse("2001:db8:100::/56"), 64},
            {}};
}

/// A SnapshotStore that remembers every saved state; while `failing` is set, a write throws
/// StoreError like a full disk.
class FakeLeaseStore : public store::SnapshotStore {
public:
    explicit FakeLeaseStore(const store::Leases& initial = dualStackSupernets())
        : SnapshotStore(initial, [this](const store::Leases& leases) {
              if (failing) throw store::StoreError("cannot write /var/lib/gipam/leases.json.tmp: No space left on device");
              saves.push_back(leases);
          }) {}

    bool failing = false;
    std::vector<store::Leases> saves;
};

/// The message of the IpamError that `action` throws, or "" if it throws none.
template <typename Action>
std::string ipamErrorOf(Action action) {
    try {
        action();
    } catch (const IpamError& error) {
        return error.what();
    }
    return {};
}

}  // namespace gipam::ipam::testing
