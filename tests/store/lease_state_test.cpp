// LeaseState: changes apply with their preconditions, and each one's revert restores the state.
#include <gtest/gtest.h>

#include "store/lease_state.h"

namespace gipam::store {
namespace {

ip::Prefix prefix(std::string_view text) { return ip::Prefix::parse(text); }
ip::Address address(std::string_view text) { return ip::Address::parse(text); }

const Leases kEmpty{Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};

PoolRecord pool(std::string id, std::string_view cidr) {
    return {std::move(id), prefix(cidr), std::nullopt, {}, std::nullopt, {}};
}

TEST(LeaseStateTest, ChangesApplyInOrderAndShowInTheLeases) {
    LeaseState state(kEmpty);
    state.apply(CreatePool{pool("a", "198.18.4.0/24")});
    state.apply(ReserveAddress{"a", address("198.18.4.1"), std::nullopt});
    state.apply(ReserveAddress{"a", address("198.18.4.2"), address("198.18.4.3")});
    const auto leases = state.leases();
    ASSERT_EQ(leases.pools.size(), 1u);
    EXPECT_EQ(leases.pools[0].addresses, (std::vector<AddressRun>{{address("198.18.4.1"), address("198.18.4.2")}}));
    EXPECT_EQ(leases.pools[0].next, address("198.18.4.3"));
    EXPECT_EQ(leases.v4, kEmpty.v4);
}

TEST(LeaseStateTest, BrokenPreconditionsThrowAndChangeNothing) {
    LeaseState state(kEmpty);
    state.apply(CreatePool{pool("a", "198.18.4.0/24")});
    state.apply(ReserveAddress{"a", address("198.18.4.1"), std::nullopt});
    const auto before = state.leases();
    EXPECT_THROW(state.apply(CreatePool{pool("a", "198.18.5.0/24")}), StoreError);
    EXPECT_THROW(state.apply(ReserveAddress{"a", address("198.18.4.1"), std::nullopt}), StoreError);
    EXPECT_THROW(state.apply(ReserveAddress{"a", address("198.18.5.1"), std::nullopt}), StoreError);
    EXPECT_THROW(state.apply(ReserveAddress{"b", address("198.18.4.2"), std::nullopt}), StoreError);
    EXPECT_THROW(state.apply(FreeAddress{"a", address("198.18.4.2")}), StoreError);
    EXPECT_THROW(state.apply(DeletePool{"b"}), StoreError);
    EXPECT_EQ(state.leases(), before);
}

TEST(LeaseStateTest, RevertsNewestFirstRestoreTheStateBeforeAll) {
    LeaseState state(kEmpty);
    state.apply(CreatePool{pool("a", "198.18.4.0/24")});
    state.apply(ReserveAddress{"a", address("198.18.4.1"), std::nullopt});
    const auto before = state.leases();
    std::vector<std::function<void()>> reverts;
    reverts.push_back(state.apply(FreeAddress{"a", address("198.18.4.1")}));
    reverts.push_back(state.apply(DeletePool{"a"}));
    reverts.push_back(state.apply(CreatePool{pool("a", "198.18.4.0/24")}));
    reverts.push_back(state.apply(ReserveAddress{"a", address("198.18.4.9"), std::nullopt}));
    for (auto it = reverts.rbegin(); it != reverts.rend(); ++it) (*it)();
    EXPECT_EQ(state.leases(), before);
}

}  // namespace
}  // namespace gipam::store
