// LeaseState: changes apply with their preconditions, and each one's revert restores the state.
#include <gtest/gtest.h>

#include "store/lease_state.h"

namespace gipam::store {
namespace {

ip::Prefix prefix(std::string_view text) { return ip::Prefix::parse(text); }
ip::Address address(std::string_view text) { return ip::Address::parse(text); }

const Leases kEmpty{Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};

CreatePool pool(std::string id, std::string_view cidr) {
    return {{std::move(id), prefix(cidr), std::nullopt, {}, std::nullopt, {}, {}}, {}};
}

ReserveAddress reserve(std::string id, std::string_view text, std::optional<ip::Address> cursor = std::nullopt) {
    ReserveAddress change;
    change.poolId = std::move(id);
    change.address = address(text);
    change.cursor = cursor;
    return change;
}

FreeAddress freeing(std::string id, std::string_view text) {
    FreeAddress change;
    change.poolId = std::move(id);
    change.address = address(text);
    return change;
}

DeletePool deleting(std::string id) {
    DeletePool change;
    change.poolId = std::move(id);
    return change;
}

TEST(LeaseStateTest, ChangesApplyInOrderAndShowInTheLeases) {
    LeaseState state(kEmpty);
    state.apply(pool("a", "198.18.4.0/24"));
    state.apply(reserve("a", "198.18.4.1"));
    state.apply(reserve("a", "198.18.4.2", address("198.18.4.3")));
    const auto leases = state.leases();
    ASSERT_EQ(leases.pools.size(), 1u);
    EXPECT_EQ(leases.pools[0].addresses, (std::vector<AddressRun>{{address("198.18.4.1"), address("198.18.4.2")}}));
    EXPECT_EQ(leases.pools[0].cursor, address("198.18.4.3"));
    EXPECT_EQ(leases.v4, kEmpty.v4);
}

TEST(LeaseStateTest, BrokenPreconditionsThrowAndChangeNothing) {
    LeaseState state(kEmpty);
    state.apply(pool("a", "198.18.4.0/24"));
    state.apply(reserve("a", "198.18.4.1"));
    const auto before = state.leases();
    EXPECT_THROW(state.apply(pool("a", "198.18.5.0/24")), StoreError);
    EXPECT_THROW(state.apply(reserve("a", "198.18.4.1")), StoreError);
    EXPECT_THROW(state.apply(reserve("a", "198.18.5.1")), StoreError);
    EXPECT_THROW(state.apply(reserve("b", "198.18.4.2")), StoreError);
    EXPECT_THROW(state.apply(freeing("a", "198.18.4.2")), StoreError);
    EXPECT_THROW(state.apply(deleting("b")), StoreError);
    EXPECT_EQ(state.leases(), before);
}

TEST(LeaseStateTest, RevertsNewestFirstRestoreTheStateBeforeAll) {
    LeaseState state(kEmpty);
    state.apply(pool("a", "198.18.4.0/24"));
    state.apply(reserve("a", "198.18.4.1"));
    const auto before = state.leases();
    std::vector<std::function<void()>> reverts;
    reverts.push_back(state.apply(freeing("a", "198.18.4.1")));
    reverts.push_back(state.apply(deleting("a")));
    reverts.push_back(state.apply(pool("a", "198.18.4.0/24")));
    reverts.push_back(state.apply(reserve("a", "198.18.4.9")));
    for (auto it = reverts.rbegin(); it != reverts.rend(); ++it) (*it)();
    EXPECT_EQ(state.leases(), before);
}

}  // namespace
}  // namespace gipam::store
