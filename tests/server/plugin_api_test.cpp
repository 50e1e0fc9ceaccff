#include "server/plugin_api.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <set>

#include "log/log.h"
#include "store/snapshot_store.h"
#include "support/fake_cluster.h"

namespace gipam::server {
namespace {

using Poco::JSON::Object;
using ::testing::IsSubstring;

store::Leases supernets() {
    return {store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24},
            store::Supernet{ip::Prefix::parse("2001:db8:100::/56"), 64},
            {}};
}

// The reply body as a JSON object; fails the test if it is anything else.
Object::Ptr bodyOf(const Reply& reply) {
    Poco::Dynamic::Var parsed;
    try {
        parsed = Poco::JSON::Parser().parse(reply.body);
    } catch (const Poco::Exception& error) {
        ADD_FAILURE() << "reply is not JSON (" << error.displayText() << "): " << reply.body;
        return new Object();
    }
    if (parsed.type() != typeid(Object::Ptr)) {
        ADD_FAILURE() << "reply is not a JSON object: " << reply.body;
        return new Object();
    }
    return parsed.extract<Object::Ptr>();
}

std::set<std::string> keysOf(const Object& object) {
    const auto names = object.getNames();
    return {names.begin(), names.end()};
}

bool isEmptyObject(const Object& object, const std::string& key) {
    return object.has(key) && object.get(key).type() == typeid(Object::Ptr) && object.getObject(key)->size() == 0;
}

class PluginApiTest : public ::testing::Test {
protected:
    void SetUp() override { log::setLevel(log::Level::Error); }

    // Asserts a failure reply of `status` with exactly {"Err": <non-empty string>}; returns the message.
    std::string expectError(const Reply& reply, int status) {
        EXPECT_EQ(reply.status, status) << reply.body;
        const auto body = bodyOf(reply);
        EXPECT_EQ(keysOf(*body), (std::set<std::string>{"Err"})) << reply.body;
        if (!body->has("Err") || !body->get("Err").isString()) return {};
        const auto message = body->getValue<std::string>("Err");
        EXPECT_FALSE(message.empty());
        return message;
    }
    std::string requestPool(const std::string& body) {
        const auto reply = api_.handle("/IpamDriver.RequestPool", body);
        EXPECT_EQ(reply.status, 200) << reply.body;
        return bodyOf(reply)->optValue<std::string>("PoolID", "");
    }

    store::SnapshotStore store_{supernets(), [](const store::Leases&) {}};
    ipam::IpamService service_{supernets(), store_};
    PluginApi api_{service_};
};

TEST_F(PluginApiTest, ActivateImplementsIpamDriver) {
    const auto reply = api_.handle("/Plugin.Activate", "");
    EXPECT_EQ(reply.status, 200);
    const auto body = bodyOf(reply);
    EXPECT_EQ(keysOf(*body), (std::set<std::string>{"Implements"}));
    const auto implements = body->getArray("Implements");
    ASSERT_TRUE(implements);
    ASSERT_EQ(implements->size(), 1u);
    EXPECT_EQ(implements->getElement<std::string>(0), "IpamDriver");
}

TEST_F(PluginApiTest, GetCapabilitiesOnOneNodeAreBothFalseBooleans) {
    const auto reply = api_.handle("/IpamDriver.GetCapabilities", "");
    EXPECT_EQ(reply.status, 200);
    const auto body = bodyOf(reply);
    EXPECT_EQ(keysOf(*body), (std::set<std::string>{"RequiresMACAddress", "RequiresRequestReplay"}));
    for (const char* key : {"RequiresMACAddress", "RequiresRequestReplay"}) {
        ASSERT_TRUE(body->get(key).isBoolean()) << key;
        EXPECT_FALSE(body->getValue<bool>(key)) << key;
    }
}

TEST(PluginApiCapabilitiesTest, WithSeveralNodesDockerIsAskedToMarkContainerRequestsWithAMac) {
    testing::FakeCluster cluster;
    testing::FakeNodeStore store(cluster, "a", supernets());
    ipam::IpamService service(supernets(), store);
    PluginApi api(service);
    const auto body = bodyOf(api.handle("/IpamDriver.GetCapabilities", ""));
    EXPECT_TRUE(body->getValue<bool>("RequiresMACAddress"));
    EXPECT_FALSE(body->getValue<bool>("RequiresRequestReplay"));
}

TEST_F(PluginApiTest, DefaultAddressSpacesAreTwoDistinctNames) {
    const auto reply = api_.handle("/IpamDriver.GetDefaultAddressSpaces", "");
    EXPECT_EQ(reply.status, 200);
    const auto body = bodyOf(reply);
    EXPECT_EQ(keysOf(*body), (std::set<std::string>{"LocalDefaultAddressSpace", "GlobalDefaultAddressSpace"}));
    const auto local = body->optValue<std::string>("LocalDefaultAddressSpace", "");
    const auto global = body->optValue<std::string>("GlobalDefaultAddressSpace", "");
    EXPECT_FALSE(local.empty());
    EXPECT_FALSE(global.empty());
    EXPECT_NE(local, global);
    EXPECT_EQ(local, ipam::kLocalAddressSpace);
    EXPECT_EQ(global, ipam::kGlobalAddressSpace);
}

TEST_F(PluginApiTest, RequestPoolAnswersPoolIdPoolAndEmptyData) {
    const auto reply = api_.handle("/IpamDriver.RequestPool",
                                   R"({"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false})");
    EXPECT_EQ(reply.status, 200) << reply.body;
    const auto body = bodyOf(reply);
    EXPECT_EQ(keysOf(*body), (std::set<std::string>{"PoolID", "Pool", "Data"}));
    EXPECT_EQ(body->optValue<std::string>("PoolID", ""), "gipam-local/198.18.0.0/24");
    EXPECT_EQ(body->optValue<std::string>("Pool", ""), "198.18.0.0/24");
    EXPECT_TRUE(isEmptyObject(*body, "Data")) << reply.body;
}

TEST_F(PluginApiTest, RequestPoolPassesSubnetRangeOptionsAndFamily) {
    const auto reply = api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local",
        "Pool":"2001:db8:200::/64","SubPool":"2001:db8:200::/80","Options":{"com.example.team":"blue"},"V6":true})");
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(bodyOf(reply)->optValue<std::string>("Pool", ""), "2001:db8:200::/64");
    EXPECT_EQ(bodyOf(reply)->optValue<std::string>("PoolID", ""), "gipam-local/2001:db8:200::/64/2001:db8:200::/80");
    EXPECT_EQ(service_.snapshot().pools.at(0).options, (ipam::Options{{"com.example.team", "blue"}}));
    const auto v6 = api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local","V6":true})");
    EXPECT_EQ(bodyOf(v6)->optValue<std::string>("Pool", ""), "2001:db8:100::/64");
}

TEST_F(PluginApiTest, NullFieldsCountAsEmpty) {
    const auto reply =
        api_.handle("/IpamDriver.RequestPool",
                    R"({"AddressSpace":"gipam-local","Pool":null,"SubPool":null,"Options":null,"V6":null})");
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(bodyOf(reply)->optValue<std::string>("Pool", ""), "198.18.0.0/24");
    const auto address = api_.handle("/IpamDriver.RequestAddress",
                                     R"({"PoolID":"gipam-local/198.18.0.0/24","Address":null,"Options":null})");
    EXPECT_EQ(address.status, 200) << address.body;
}

TEST_F(PluginApiTest, RequestAddressAnswersAddressWithPoolLengthAndEmptyData) {
    const auto id = requestPool(R"({"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false})");
    const auto reply = api_.handle(
        "/IpamDriver.RequestAddress",
        R"({"PoolID":")" + id + R"(","Address":"","Options":{"RequestAddressType":"com.docker.network.gateway"}})");
    EXPECT_EQ(reply.status, 200) << reply.body;
    const auto body = bodyOf(reply);
    EXPECT_EQ(keysOf(*body), (std::set<std::string>{"Address", "Data"}));
    EXPECT_EQ(body->optValue<std::string>("Address", ""), "198.18.0.1/24");
    EXPECT_TRUE(isEmptyObject(*body, "Data")) << reply.body;
    const auto specific = api_.handle("/IpamDriver.RequestAddress",
                                      R"({"PoolID":")" + id + R"(","Address":"198.18.0.200","Options":null})");
    EXPECT_EQ(bodyOf(specific)->optValue<std::string>("Address", ""), "198.18.0.200/24");
}

TEST_F(PluginApiTest, ReleasesAnswerAnEmptyObject) {
    const auto id = requestPool(R"({"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false})");
    api_.handle("/IpamDriver.RequestAddress", R"({"PoolID":")" + id + R"(","Address":"","Options":null})");
    const auto address =
        api_.handle("/IpamDriver.ReleaseAddress", R"({"PoolID":")" + id + R"(","Address":"198.18.0.1"})");
    EXPECT_EQ(address.status, 200);
    EXPECT_EQ(keysOf(*bodyOf(address)), std::set<std::string>{});
    const auto pool = api_.handle("/IpamDriver.ReleasePool", R"({"PoolID":")" + id + R"("})");
    EXPECT_EQ(pool.status, 200);
    EXPECT_EQ(keysOf(*bodyOf(pool)), std::set<std::string>{});
    EXPECT_TRUE(service_.snapshot().pools.empty());
}

TEST_F(PluginApiTest, RefusedRequestsAre500WithErr) {
    const auto space =
        expectError(api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"default","Pool":""})"), 500);
    EXPECT_PRED_FORMAT2(IsSubstring, "default", space);
    const auto unknown =
        expectError(api_.handle("/IpamDriver.ReleasePool", R"({"PoolID":"gipam-local/10.9.9.0/24"})"), 500);
    EXPECT_PRED_FORMAT2(IsSubstring, "gipam-local/10.9.9.0/24", unknown);
    const auto id = requestPool(R"({"AddressSpace":"gipam-local","Pool":"198.19.0.0/24"})");
    api_.handle("/IpamDriver.RequestAddress", R"({"PoolID":")" + id + R"(","Address":"198.19.0.5"})");
    const auto held = expectError(
        api_.handle("/IpamDriver.RequestAddress", R"({"PoolID":")" + id + R"(","Address":"198.19.0.5"})"), 500);
    EXPECT_PRED_FORMAT2(IsSubstring, "198.19.0.5", held);
}

TEST_F(PluginApiTest, InvalidJsonIs400) {
    expectError(api_.handle("/IpamDriver.RequestPool", "{"), 400);
    expectError(api_.handle("/IpamDriver.RequestPool", ""), 400);
    expectError(api_.handle("/IpamDriver.ReleasePool", "PoolID=x"), 400);
}

TEST_F(PluginApiTest, NonObjectBodyIs400) {
    expectError(api_.handle("/IpamDriver.RequestPool", "[]"), 400);
    expectError(api_.handle("/IpamDriver.RequestAddress", R"("gipam-local/198.18.0.0/24")"), 400);
    expectError(api_.handle("/IpamDriver.ReleaseAddress", "null"), 400);
}

TEST_F(PluginApiTest, WrongFieldTypesAre400) {
    EXPECT_PRED_FORMAT2(
        IsSubstring, "Pool",
        expectError(api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local","Pool":5})"), 400));
    EXPECT_PRED_FORMAT2(
        IsSubstring, "V6",
        expectError(api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local","V6":"yes"})"), 400));
    EXPECT_PRED_FORMAT2(
        IsSubstring, "Options",
        expectError(api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local","Options":[1]})"), 400));
    expectError(api_.handle("/IpamDriver.RequestPool", R"({"AddressSpace":"gipam-local","Options":{"v4ab":26}})"), 400);
    expectError(api_.handle("/IpamDriver.ReleasePool", R"({"PoolID":7})"), 400);
    expectError(api_.handle("/IpamDriver.RequestAddress", R"({"PoolID":"x","Address":["198.18.0.1"]})"), 400);
    EXPECT_TRUE(service_.snapshot().pools.empty());
}

TEST_F(PluginApiTest, UnknownPathIs404) {
    expectError(api_.handle("/IpamDriver.Frobnicate", "{}"), 404);
    expectError(api_.handle("/", ""), 404);
    expectError(api_.handle("/NetworkDriver.CreateNetwork", "{}"), 404);
}

TEST(ErrorBodyTest, EscapesTheMessage) {
    const std::string message = "pool \"a\\b\"\nline two";
    const auto parsed = Poco::JSON::Parser().parse(errorBody(message)).extract<Object::Ptr>();
    EXPECT_EQ(parsed->getValue<std::string>("Err"), message);
}

}  // namespace
}  // namespace gipam::server
