// The etcd key layout and value formats: every key round-trips, values of gipam 0.1 still read,
// and what is not gipam's is not taken for it.
#include <gtest/gtest.h>

#include "store/etcd/etcd_layout.h"

namespace gipam::store {
namespace {

ip::Prefix prefix(std::string_view text) { return ip::Prefix::parse(text); }

const EtcdKeys kKeys{"/gipam"};

TEST(EtcdLayoutTest, BlockKeysSortByNetworkAndReadBack) {
    EXPECT_EQ(kKeys.block(prefix("198.18.4.0/24")), "/gipam/blocks/4/c6120400/24");
    EXPECT_EQ(kKeys.block(prefix("2001:db8:100::/56")), "/gipam/blocks/6/20010db8010000000000000000000000/56");
    for (const auto* text : {"198.18.4.0/24", "0.0.0.0/1", "198.18.4.4/30", "2001:db8:100::/56", "2001:db8::1/128"}) {
        EXPECT_EQ(kKeys.blockOf(kKeys.block(prefix(text))), prefix(text)) << text;
    }
    // Keys of other shapes are not blocks.
    for (const auto* key : {"/gipam/blocks/4/c6120400", "/gipam/blocks/4/c612040/24", "/gipam/blocks/4/c6120401/24",
                            "/gipam/blocks/4/c61204zz/24", "/gipam/blocks/4/c6120400/33", "/gipam/blocks/4/c6120400/",
                            "/gipam/pools/x", "/other/blocks/4/c6120400/24"}) {
        EXPECT_FALSE(kKeys.blockOf(key)) << key;
    }
    // Every block inside a /24 lies between its key prefix and that of its last address.
    EXPECT_LT(kKeys.blocksAt(prefix("198.18.4.0/24").network()), kKeys.block(prefix("198.18.4.128/25")));
    EXPECT_LT(kKeys.block(prefix("198.18.4.128/25")), prefixEnd(kKeys.blocksAt(prefix("198.18.4.0/24").last())));
}

TEST(EtcdLayoutTest, PoolKeysAreToldApartFromTheEndThoughPoolIdsHoldSlashes) {
    const std::string id = "gipam-local/198.18.4.0/24/198.18.4.128/25";
    const auto holder = kKeys.poolKeyOf(kKeys.holder(id, "a"));
    EXPECT_EQ(holder.kind, EtcdKeys::PoolKey::Kind::Holder);
    EXPECT_EQ(holder.poolId, id);
    EXPECT_EQ(holder.last, "a");
    const auto copy = kKeys.poolKeyOf(kKeys.copy(id, "b"));
    EXPECT_EQ(copy.kind, EtcdKeys::PoolKey::Kind::Copy);
    EXPECT_EQ(copy.last, "b");
    const auto address = kKeys.poolKeyOf(kKeys.address(id, ip::Address::parse("2001:db8::5")));
    EXPECT_EQ(address.kind, EtcdKeys::PoolKey::Kind::Address);
    EXPECT_EQ(address.poolId, id);
    EXPECT_EQ(address.last, "2001:db8::5");
    EXPECT_EQ(kKeys.addressOf(id, kKeys.address(id, ip::Address::parse("198.18.4.9"))), ip::Address::parse("198.18.4.9"));
    EXPECT_EQ(kKeys.poolKeyOf(kKeys.pool(id)).kind, EtcdKeys::PoolKey::Kind::Other);
    EXPECT_EQ(kKeys.poolKeyOf(kKeys.poolName(id)).kind, EtcdKeys::PoolKey::Kind::Other);
    EXPECT_EQ(kKeys.poolKeyOf("/gipam/names/lan").kind, EtcdKeys::PoolKey::Kind::Other);
}

TEST(EtcdLayoutTest, BlockClaimsRoundTripAndReadGipam01Values) {
    const BlockClaim claim{"gipam-local/198.18.4.0/24", "a", Scope::Cluster, "0123456789abcdef"};
    const auto decoded = decodeBlockClaim(encodeBlockClaim(claim));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->pool, claim.pool);
    EXPECT_EQ(decoded->node, "a");
    EXPECT_EQ(decoded->scope, Scope::Cluster);
    EXPECT_EQ(decoded->claim, claim.claim);
    // gipam 0.1 said "host" for a node's own block.
    const auto old = decodeBlockClaim(R"({"pool":"p","node":"a","scope":"host"})");
    ASSERT_TRUE(old);
    EXPECT_EQ(old->scope, Scope::Node);
    for (const auto* text : {"", "a", "{}", R"({"pool":"p","node":"a","scope":"galaxy"})", R"({"pool":"p","scope":"node"})"}) {
        EXPECT_FALSE(decodeBlockClaim(text)) << text;
    }
}

TEST(EtcdLayoutTest, AddressHoldsNameHolderUseAndHandleAndReadGipam01Values) {
    const AddressHold hold{"swarm", "m1", AddressUse::Endpoint, "feedfacecafebeef", "web.1"};
    const auto decoded = decodeAddressHold(encodeAddressHold(hold));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->holder, "swarm");
    EXPECT_EQ(decoded->node, "m1");
    EXPECT_EQ(decoded->use, AddressUse::Endpoint);
    EXPECT_EQ(decoded->handle, hold.handle);
    EXPECT_EQ(decoded->endpoint, "web.1");
    // Two allocations of one address differ by their handles, so their values do too.
    EXPECT_NE(encodeAddressHold(hold), encodeAddressHold({"swarm", "m1", AddressUse::Endpoint, newNonce(), "web.1"}));
    const auto shared = decodeAddressHold("b once");
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->holder, "b");
    EXPECT_EQ(shared->use, AddressUse::Shared);
    const auto endpoint = decodeAddressHold("b");
    ASSERT_TRUE(endpoint);
    EXPECT_EQ(endpoint->use, AddressUse::Endpoint);
    EXPECT_TRUE(endpoint->handle.empty());
    for (const auto* text : {"", "b twice", R"({"holder":"b","use":"maybe"})", R"({"use":"shared"})", "{"}) {
        EXPECT_FALSE(decodeAddressHold(text)) << text;
    }
}

TEST(EtcdLayoutTest, NodeRecordsAndLivenessRoundTrip) {
    EXPECT_EQ(decodeNodeRecord(encodeNodeRecord({"token"}))->instance, "token");
    EXPECT_FALSE(decodeNodeRecord("{}"));
    const NodeAlive alive{"token", "incarnation", "host-a", "boot", 4242, 123456789, "2026-12-07T10:00:00Z"};
    const auto decoded = decodeNodeAlive(encodeNodeAlive(alive));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->instance, "token");
    EXPECT_EQ(decoded->incarnation, "incarnation");
    EXPECT_EQ(decoded->hostname, "host-a");
    EXPECT_EQ(decoded->pid, 4242);
    EXPECT_EQ(decoded->started, 123456789);
    EXPECT_EQ(decoded->since, alive.since);
    EXPECT_EQ(decodePoolCopy(encodePoolCopy({"gipam-local/198.18.4.0/24", "n"}))->copy, "gipam-local/198.18.4.0/24");
}

TEST(EtcdLayoutTest, APoolIsStoredWithoutItsAddresses) {
    PoolRecord pool{"gipam-local/198.18.4.0/24", prefix("198.18.4.0/24"), prefix("198.18.4.128/25"),
                    {{"gipam.network", "lan"}}, std::nullopt, {{ip::Address::parse("198.18.4.1"), ip::Address::parse("198.18.4.9")}},
                    {}};
    const auto text = encodePool(pool);
    EXPECT_EQ(text.find("198.18.4.9"), std::string::npos);
    const auto decoded = decodePool(text);
    ASSERT_TRUE(decoded);
    pool.addresses.clear();
    EXPECT_EQ(*decoded, pool);
    EXPECT_FALSE(decodePool("{}"));
}

TEST(EtcdLayoutTest, ANonceIsSixteenHexDigitsAndNewEachTime) {
    const auto first = newNonce(), second = newNonce();
    EXPECT_EQ(first.size(), 16u);
    EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(first, second);
}

}  // namespace
}  // namespace gipam::store
