// Hostile request bodies: malformed and truncated JSON, wrong types, null everywhere, huge
// numbers, prefixes with host bits or lengths out of range, addresses of the wrong family,
// IPv4-mapped IPv6, zone ids, unknown paths. Each case is its own test: it must get a clear
// answer (400, 404 or 500 with an Err naming the value), gipam must keep serving, and the lease
// file must stay byte for byte as it was. HTTP-level abuse is in hostile_http_test.cpp.
#include <algorithm>
#include <cctype>
#include <iostream>

#include "integration/fixture.h"
#include "integration/lease_snapshot.h"

namespace gipam::testing {
namespace {

// The state every case starts from (see HostileInputTest::SetUp).
constexpr char kPool[] = "gipam-local/198.18.0.0/24";        // holds 198.18.0.10
constexpr char kV6Pool[] = "gipam-local/2001:db8:100::/64";  // holds 2001:db8:100::1

struct BadRequest {
    std::string name;  // the test's name
    std::string path;
    std::string body;
    std::vector<int> statuses;  // any of these is a clear answer
    std::string mention;        // the Err must contain it
};

std::ostream& operator<<(std::ostream& out, const BadRequest& c) {
    return out << c.name;
}

std::string pool(const std::string& fields) {
    return R"({"AddressSpace":"gipam-local",)" + fields + "}";
}

const std::string kRP = "/IpamDriver.RequestPool";
const std::string kRA = "/IpamDriver.RequestAddress";
const std::string kRelA = "/IpamDriver.ReleaseAddress";
const std::string kRelP = "/IpamDriver.ReleasePool";

std::vector<BadRequest> malformedJson() {
    const std::string valid = requestPoolBody();
    return {
        {"EmptyBody", kRP, "", {400}, "JSON object"},
        {"OpenBraceOnly", kRP, "{", {400}, "JSON object"},
        {"TruncatedInsideAString", kRP, valid.substr(0, 40), {400}, "JSON object"},
        {"TruncatedAfterAComma", kRA, R"({"PoolID":"gipam-local/198.18.0.0/24",)", {400}, "JSON object"},
        {"TrailingGarbage", kRP, valid + " x", {400}, "JSON object"},
        {"TwoObjects", kRP, valid + valid, {400}, "JSON object"},
        {"NotJsonAtAll", kRP, "hello", {400}, "JSON object"},
        {"InvalidUtf8", kRP, "\xff\xfe\xfd", {400}, "JSON object"},
        // Inside a string, so that the JSON parser itself meets the bytes.
        {"InvalidUtf8InAString", kRP, pool("\"Pool\":\"\xff\xfe\",\"V6\":false"), {400}, "not a valid JSON object"},
        {"SingleQuotes", kRP, "{'AddressSpace':'gipam-local'}", {400}, "JSON object"},
        // Inside an object, so that the parser itself meets the nesting (a bare '[' is refused
        // before parsing as not an object).
        {"DeeplyNestedArrays", kRP, R"({"Options":)" + std::string(500000, '['), {400}, "depth"},
        {"DeeplyNestedObjects",
         kRA,
         [] {
             std::string body;
             for (int i = 0; i < 100000; ++i) body += R"({"a":)";
             return body;
         }(),
         {400},
         "depth"},
        {"TopLevelArray", kRP, "[]", {400}, "JSON object"},
        {"TopLevelString", kRA, R"("198.18.0.5")", {400}, "JSON object"},
        {"TopLevelNumber", kRelP, "5", {400}, "JSON object"},
        {"TopLevelTrue", kRelA, "true", {400}, "JSON object"},
        {"LoneSurrogateInAnOption", kRP, pool(R"("Pool":"","Options":{"k":"\ud800"},"V6":false)"), {400}, "surrogate"},
    };
}

std::vector<BadRequest> nulls() {
    std::vector<BadRequest> cases;
    for (const auto& path : {kRP, kRA, kRelA, kRelP}) {
        cases.push_back({"NullBodyTo" + path.substr(path.find('.') + 1), path, "null", {400}, "JSON object"});
    }
    const std::vector<BadRequest> fields = {
        // A null (empty) address space is the local one (dockerd still caching the Go gipam's
        // names); the request then stands or falls by its other fields.
        {"NullAddressSpace",
         kRP,
         R"({"AddressSpace":null,"Pool":"198.19.5.0/33","SubPool":"","Options":{},"V6":false})",
         {500},
         "198.19.5.0/33"},
        {"AllNullRequestPoolButTheSubPool",
         kRP,
         R"({"AddressSpace":null,"Pool":null,"SubPool":"198.19.5.0/25","Options":null,"V6":null})",
         {500},
         "needs a subnet"},
        {"NullPoolIdRequestAddress",
         kRA,
         R"({"PoolID":null,"Address":"198.18.0.5","Options":null})",
         {500},
         "unknown pool ID ''"},
        {"AllNullRequestAddress", kRA, R"({"PoolID":null,"Address":null,"Options":null})", {500}, "unknown pool ID ''"},
        {"NullAddressReleaseAddress",
         kRelA,
         R"({"PoolID":"gipam-local/198.18.0.0/24","Address":null})",
         {500},
         "released address '' is not an IP address"},
        {"AllNullReleaseAddress", kRelA, R"({"PoolID":null,"Address":null})", {500}, "unknown pool ID ''"},
        {"NullPoolIdReleasePool", kRelP, R"({"PoolID":null})", {500}, "unknown pool ID ''"},
        {"NullOptionValueRequestPool",
         kRP,
         pool(R"("Pool":"","Options":{"k":null},"V6":false)"),
         {400},
         "option k must be a string"},
        {"NullOptionValueRequestAddress",
         kRA,
         R"({"PoolID":"gipam-local/198.18.0.0/24","Options":{"k":null}})",
         {400},
         "option k must be a string"},
    };
    cases.insert(cases.end(), fields.begin(), fields.end());
    return cases;
}

std::vector<BadRequest> wrongTypes() {
    return {
        {"PoolIsANumber", kRP, pool(R"("Pool":5,"V6":false)"), {400}, "field Pool must be a string"},
        {"V6IsAString", kRP, pool(R"("Pool":"","V6":"true")"), {400}, "field V6 must be true or false"},
        {"V6IsANumber", kRP, pool(R"("Pool":"","V6":1)"), {400}, "field V6 must be true or false"},
        {"OptionsIsAnArray", kRP, pool(R"("Pool":"","Options":[],"V6":false)"), {400}, "field Options"},
        {"OptionsIsAString", kRP, pool(R"("Pool":"","Options":"v4ab=26","V6":false)"), {400}, "field Options"},
        {"OptionValueIsANumber",
         kRP,
         pool(R"("Pool":"","Options":{"v4ab":26},"V6":false)"),
         {400},
         "option v4ab must be a string"},
        {"OptionValueIsAnObject",
         kRP,
         pool(R"("Pool":"","Options":{"a":{}},"V6":false)"),
         {400},
         "option a must be a string"},
        {"AddressSpaceIsAnObject", kRP, R"({"AddressSpace":{},"Pool":""})", {400}, "field AddressSpace"},
        {"PoolIdIsANumber", kRA, R"({"PoolID":7,"Address":""})", {400}, "field PoolID must be a string"},
        {"AddressIsABool",
         kRA,
         R"({"PoolID":"gipam-local/198.18.0.0/24","Address":true})",
         {400},
         "field Address must be a string"},
        {"ReleasedAddressIsAnArray",
         kRelA,
         R"({"PoolID":"gipam-local/198.18.0.0/24","Address":["198.18.0.10"]})",
         {400},
         "field Address must be a string"},
        {"ReleasedPoolIdIsAnArray",
         kRelP,
         R"({"PoolID":["gipam-local/198.18.0.0/24"]})",
         {400},
         "field PoolID must be a string"},
    };
}

std::vector<BadRequest> hugeNumbers() {
    return {
        {"V6Is1e999", kRP, pool(R"("Pool":"","V6":1e999)"), {400}, "1e999"},
        {"PoolIsTwentyDigits", kRP, pool(R"("Pool":99999999999999999999,"V6":false)"), {400}, "99999999999999999999"},
        {"PoolIdIsMinus1e999", kRelP, R"({"PoolID":-1e999})", {400}, "1e999"},
        {"BlockLengthOfTwentyDigits",
         kRP,
         pool(R"("Pool":"","Options":{"v4ab":"99999999999999999999"},"V6":false)"),
         {500},
         "v4ab=99999999999999999999"},
        {"NegativeBlockLength", kRP, pool(R"("Pool":"","Options":{"v6ab":"-1"},"V6":true)"), {500}, "v6ab=-1"},
        {"BlockLengthBeyondTheFamily", kRP, pool(R"("Pool":"","Options":{"v4ab":"31"},"V6":false)"), {500}, "v4ab=31"},
        {"SerialIsNotABool",
         kRP,
         pool(R"("Pool":"","Options":{"com.docker.network.ipam.serial":"yes"},"V6":false)"),
         {500},
         "must be true or false"},
    };
}

std::vector<BadRequest> badPrefixes() {
    const auto subnet = [](const std::string& pool, bool v6, const std::string& subPool = "") {
        return requestPoolBody(pool, v6, subPool);
    };
    return {
        {"V4HostBits", kRP, subnet("198.19.5.1/24", false), {500}, "did you mean 198.19.5.0/24"},
        {"V6HostBits", kRP, subnet("2001:db8:5::1/64", true), {500}, "did you mean 2001:db8:5::/64"},
        {"SubPoolHostBits", kRP, subnet("198.19.5.0/24", false, "198.19.5.129/25"), {500}, "198.19.5.129/25"},
        {"V4Slash33", kRP, subnet("198.19.5.0/33", false), {500}, "198.19.5.0/33"},
        {"V6Slash129", kRP, subnet("2001:db8:5::/129", true), {500}, "2001:db8:5::/129"},
        {"SlashMinusOne", kRP, subnet("198.19.5.0/-1", false), {500}, "198.19.5.0/-1"},
        {"SlashNothing", kRP, subnet("198.19.5.0/", false), {500}, "198.19.5.0/"},
        {"NoSlash", kRP, subnet("198.19.5.0", false), {500}, "'198.19.5.0' is not a CIDR prefix"},
        {"LeadingZeroLength", kRP, subnet("198.19.5.0/024", false), {500}, "198.19.5.0/024"},
        {"LengthWithJunk", kRP, subnet("198.19.5.0/24abc", false), {500}, "198.19.5.0/24abc"},
        {"LengthOfTwentyDigits",
         kRP,
         subnet("198.19.5.0/99999999999999999999", false),
         {500},
         "198.19.5.0/99999999999999999999"},
        {"SubPoolSlash33", kRP, subnet("198.19.5.0/24", false, "198.19.5.0/33"), {500}, "198.19.5.0/33"},
        {"SubPoolOutsideThePool", kRP, subnet("198.19.5.0/24", false, "198.19.6.0/25"), {500}, "198.19.6.0/25"},
        {"SubPoolOfTheOtherFamily", kRP, subnet("198.19.5.0/24", false, "2001:db8:5::/120"), {500}, "2001:db8:5::/120"},
        {"MappedSubnet", kRP, subnet("::ffff:198.18.0.0/120", true), {500}, "IPv4-mapped"},
        {"MappedSubnetAskedAsV4", kRP, subnet("::ffff:198.18.0.0/120", false), {500}, "::ffff:198.18.0.0/120"},
        {"ZoneIdInSubnet", kRP, subnet("fe80::%eth0/64", true), {500}, "fe80::%eth0"},
        {"OverlapsAHeldPool", kRP, subnet("198.18.0.0/23", false), {500}, "overlaps 198.18.0.0/24"},
        {"WholeV4Space", kRP, subnet("0.0.0.0/0", false), {500}, "0.0.0.0/0"},
        {"UnknownAddressSpace",
         kRP,
         R"({"AddressSpace":"other","Pool":"","SubPool":"","Options":{},"V6":false})",
         {500},
         "unknown address space 'other'"},
    };
}

std::vector<BadRequest> badAddresses() {
    const auto ask = [](const std::string& poolId, const std::string& address) {
        return BadRequest{"", kRA, requestAddressBody(poolId, address), {500}, address};
    };
    const auto named = [](std::string name, BadRequest c, std::string mention = "") {
        c.name = std::move(name);
        if (!mention.empty()) c.mention = std::move(mention);
        return c;
    };
    return {
        named("V6AddressInV4Pool", ask(kPool, "2001:db8:100::5"), "is IPv6 but pool"),
        named("V4AddressInV6Pool", ask(kV6Pool, "198.18.0.5"), "is IPv4 but pool"),
        named("MappedAddressInV4Pool", ask(kPool, "::ffff:198.18.0.1")),
        named("MappedAddressInV6Pool", ask(kV6Pool, "::ffff:198.18.0.1"), "::ffff:198.18.0.1 is outside pool"),
        named("ZoneIdInV4Pool", ask(kPool, "fe80::1%eth0")),
        named("ZoneIdInV6Pool", ask(kV6Pool, "2001:db8:100::5%eth0")),
        named("LeadingSpace", ask(kPool, " 198.18.0.5")),
        named("LeadingZeroOctet", ask(kPool, "198.018.0.5")),
        named("AddressWithLength", ask(kPool, "198.18.0.5/24")),
        named("NetworkAddress", ask(kPool, "198.18.0.0"), "network address"),
        named("BroadcastAddress", ask(kPool, "198.18.0.255"), "broadcast address"),
        named("V6SubnetRouterAnycast", ask(kV6Pool, "2001:db8:100::"), "network address"),
        named("AlreadyHeld", ask(kPool, "198.18.0.10"), "198.18.0.10 is already allocated"),
        named("TenThousandDigits", ask(kPool, std::string(10000, '1')), "is not an IP address"),
        named("UnknownPoolId", ask("gipam-local/198.18.9.0/24", ""), "unknown pool ID 'gipam-local/198.18.9.0/24'"),
        named("HalfAMegabytePoolId", ask(std::string(500000, 'p'), ""), "unknown pool ID"),
        {"ReleaseWithZoneIdOfAHeldAddress",
         kRelA,
         releaseAddressBody(kV6Pool, "2001:db8:100::1%eth0"),
         {500},
         "2001:db8:100::1%eth0"},
        {"ReleaseGarbageAddress", kRelA, releaseAddressBody(kPool, "garbage"), {500}, "'garbage' is not an IP address"},
        // The mapped form names another address (::ffff:198.18.0.10 is IPv6): .10 stays held.
        {"ReleaseMappedFormOfAHeldAddress", kRelA, releaseAddressBody(kPool, "::ffff:198.18.0.10"), {200, 500}, ""},
        {"ReleaseUnknownPool", kRelP, releasePoolBody("gipam-local/198.18.9.0/24"), {500}, "gipam-local/198.18.9.0/24"},
    };
}

std::vector<BadRequest> unknownPaths() {
    std::vector<BadRequest> cases;
    const std::pair<std::string, std::string> paths[] = {
        {"Frobnicate", "/IpamDriver.Frobnicate"},
        {"Root", "/"},
        {"LowerCase", "/ipamdriver.requestpool"},
        {"TrailingSlash", "/IpamDriver.RequestPool/"},
        {"QueryString", "/IpamDriver.RequestPool?Pool=198.19.5.0/24"},
        {"DotDot", "/Plugin.Activate/../IpamDriver.RequestPool"},
        {"NetworkDriverCall", "/NetworkDriver.CreateNetwork"},
        {"PercentEncoded", "/IpamDriver%2ERequestPool"},
    };
    for (const auto& [name, path] : paths)
        cases.push_back({"UnknownPath" + name, path, requestPoolBody(), {404}, path});
    return cases;
}

class HostileInputTest : public GipamTest {
protected:
    void SetUp() override {
        start();
        ASSERT_EQ(requestPool(), kPool);
        ASSERT_EQ(requestPool("", true), kV6Pool);
        requestAddress(kPool, "198.18.0.10");
        requestAddress(kV6Pool, "2001:db8:100::1");
    }

    /// gipam still answers, and still holds exactly what SetUp gave it.
    void expectAliveAndUnchanged() {
        ASSERT_TRUE(gipam_->running()) << "gipam died";
        EXPECT_EQ(post("/Plugin.Activate").status, 200);
        EXPECT_NE(post(kRA, requestAddressBody(kPool, "198.18.0.10")).body.find("already allocated"),
                  std::string::npos);
        EXPECT_NE(post(kRA, requestAddressBody(kV6Pool, "2001:db8:100::1")).body.find("already allocated"),
                  std::string::npos);
        const auto snapshot = readLeaseSnapshot(leaseFile());
        EXPECT_TRUE(snapshot.problems.empty()) << snapshot.describeProblems();
        EXPECT_EQ(snapshot.pools.size(), 2u);
        EXPECT_EQ(snapshot.addressCount(), 2u);
    }
};

class BadRequestTest : public HostileInputTest, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(BadRequestTest, GetsAClearAnswerAndChangesNothing) {
    const auto& c = GetParam();
    const auto before = readFile(leaseFile());
    const auto response = post(c.path, c.body);
    const auto shown = c.body.size() > 200 ? c.body.substr(0, 200) + "..." : c.body;
    EXPECT_NE(std::find(c.statuses.begin(), c.statuses.end(), response.status), c.statuses.end())
        << c.path << " " << shown << " -> " << response.status << " " << response.body.substr(0, 300);
    if (response.status != 200) {
        const auto err = jsonField(response.body, "Err");
        EXPECT_FALSE(err.empty()) << response.body;
        EXPECT_NE(err.find(c.mention), std::string::npos) << "Err does not name '" << c.mention << "': " << err;
    }
    EXPECT_EQ(readFile(leaseFile()), before) << "the lease file changed";
    expectAliveAndUnchanged();
    RecordProperty("http_status", response.status);
}

std::string caseName(const ::testing::TestParamInfo<BadRequest>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(MalformedJson, BadRequestTest, ::testing::ValuesIn(malformedJson()), caseName);
INSTANTIATE_TEST_SUITE_P(Nulls, BadRequestTest, ::testing::ValuesIn(nulls()), caseName);
INSTANTIATE_TEST_SUITE_P(WrongTypes, BadRequestTest, ::testing::ValuesIn(wrongTypes()), caseName);
INSTANTIATE_TEST_SUITE_P(HugeNumbers, BadRequestTest, ::testing::ValuesIn(hugeNumbers()), caseName);
INSTANTIATE_TEST_SUITE_P(BadPrefixes, BadRequestTest, ::testing::ValuesIn(badPrefixes()), caseName);
INSTANTIATE_TEST_SUITE_P(BadAddresses, BadRequestTest, ::testing::ValuesIn(badAddresses()), caseName);
INSTANTIATE_TEST_SUITE_P(UnknownPaths, BadRequestTest, ::testing::ValuesIn(unknownPaths()), caseName);

// Docker sends every field; null or absent counts as empty, unknown fields are ignored. Each
// such request is granted and its release leaves the lease file exactly as before.
TEST_F(HostileInputTest, NullOrMissingFieldsCountAsEmptyAndUnknownFieldsAreIgnored) {
    const std::string poolBodies[] = {
        R"({"AddressSpace":"gipam-local","Pool":null,"SubPool":null,"Options":null,"V6":null})",
        R"({"AddressSpace":"gipam-local"})",
        R"({"AddressSpace":"gipam-local","Pool":"","V6":true,"Extra":[1,{"x":null}],"Options":{}})",
    };
    const std::string addressBodies[] = {
        R"({"PoolID":"gipam-local/198.18.0.0/24","Address":null,"Options":null})",
        R"({"PoolID":"gipam-local/198.18.0.0/24"})",
        R"({"PoolID":"gipam-local/198.18.0.0/24","Address":"","Options":{},"Extra":{"a":[null]}})",
    };
    const auto before = readFile(leaseFile());
    int granted = 0;
    for (const auto& body : poolBodies) {
        const auto response = post(kRP, body);
        ASSERT_EQ(response.status, 200) << body << " -> " << response.body;
        EXPECT_EQ(post(kRelP, releasePoolBody(jsonField(response.body, "PoolID"))).status, 200);
        EXPECT_EQ(readFile(leaseFile()), before) << body;
        ++granted;
    }
    for (const auto& body : addressBodies) {
        const auto response = post(kRA, body);
        ASSERT_EQ(response.status, 200) << body << " -> " << response.body;
        const auto address = jsonField(response.body, "Address");
        EXPECT_EQ(post(kRelA, releaseAddressBody(kPool, address.substr(0, address.find('/')))).status, 200);
        EXPECT_EQ(readFile(leaseFile()), before) << body;
        ++granted;
    }
    std::cout << "[ hostile input ] " << granted << " requests with null, missing or unknown fields granted and undone"
              << std::endl;
    expectAliveAndUnchanged();
}

// The lease file stores option strings as given; odd ones must not make it unreadable, or the
// next restart would fail and every lease would be stuck.
TEST_F(HostileInputTest, StrangeOptionStringsSurviveARestart) {
    const std::string options[] = {
        R"({"k":"\u0000nul"})",
        "{\"k\":\"\xff\xfe raw bytes\"}",
        R"({"\"quoted\\":"back\\slash\"and\nnewline\ttab"})",
        R"({"k":"\u2028\u00e9\ud83d\ude00"})",
        "{\"k\":\"\x7f\"}",
        R"({")" + std::string(100000, 'k') + R"(":"long key"})",
        R"({"":""})",
    };
    std::vector<std::string> granted;
    for (const auto& option : options) {
        const auto response = post(kRP, requestPoolBody("", false, "", option));
        const bool overLimit = response.status == 500 && response.body.find("at most") != std::string::npos;
        EXPECT_TRUE(response.status == 200 || response.status == 400 || overLimit) << option << " -> " << response.body;
        if (response.status == 200) granted.push_back(jsonField(response.body, "PoolID"));
        if (response.status != 200) {
            std::string shown = option.substr(0, 40);
            for (auto& c : shown) c = std::isprint(static_cast<unsigned char>(c)) ? c : '?';
            std::cout << "[ hostile input ] refused " << shown << ": " << response.body << "\n";
        }
    }
    // All but the raw bytes (not UTF-8, so not JSON: 400) and the over-long key (a limit: 500)
    // are valid option strings and must reach the lease file.
    EXPECT_EQ(granted.size(), std::size(options) - 2) << "odd but valid option strings were refused";
    restart(SIGKILL);
    ASSERT_FALSE(HasFatalFailure()) << "the lease file with odd options cannot be loaded: " << gipam_->log();
    const auto snapshot = readLeaseSnapshot(leaseFile());
    EXPECT_TRUE(snapshot.problems.empty()) << snapshot.describeProblems();
    for (const auto& id : granted) {
        EXPECT_EQ(snapshot.pools.count(id), 1u) << id;
        EXPECT_EQ(post(kRelP, releasePoolBody(id)).status, 200) << id << " was lost in the restart";
    }
    std::cout << "[ hostile input ] " << granted.size() << " of " << std::size(options)
              << " pools with odd option strings granted, all reloaded after a restart" << std::endl;
    expectAliveAndUnchanged();
}

// An address or subnet with a NUL character (JSON "\u0000") must not be cut at the NUL, as
// inet_pton would: "198.18.0.5\u0000junk" granted as 198.18.0.5, or a release of
// "198.18.0.10\u0000junk" freeing 198.18.0.10. Expected: 500 naming the value, nothing changed.
TEST_F(HostileInputTest, AddressesWithANulCharacterAreRefused) {
    const auto before = readFile(leaseFile());
    const BadRequest cases[] = {
        {"", kRA, R"({"PoolID":"gipam-local/198.18.0.0/24","Address":"198.18.0.5\u0000junk"})", {500}, ""},
        {"", kRP, pool(R"("Pool":"198.19.5.0\u0000junk/24","V6":false)"), {500}, ""},
        {"", kRelA, R"({"PoolID":"gipam-local/198.18.0.0/24","Address":"198.18.0.10\u0000junk"})", {500}, ""},
    };
    for (const auto& c : cases) {
        const auto response = post(c.path, c.body);
        EXPECT_EQ(response.status, 500) << c.body << " -> " << response.body;
        EXPECT_EQ(readFile(leaseFile()), before) << c.body << " changed the lease file";
    }
    expectAliveAndUnchanged();
}

}  // namespace
}  // namespace gipam::testing
