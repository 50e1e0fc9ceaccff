// gipam leases: the exclusions and the cooling addresses, in text and JSON.
#include "main/leases_report.h"

#include <gtest/gtest.h>

#include <Poco/JSON/Parser.h>

namespace gipam::report {
namespace {

using namespace std::chrono_literals;

store::Leases sample() {
    store::Leases leases{store::Supernet{ip::Prefix::parse("198.18.0.0/16"), 24}, std::nullopt, {}};
    leases.excluded = {{ip::Address::parse("198.18.0.0"), ip::Address::parse("198.18.0.15")}};
    store::PoolRecord pool{"gipam-local/198.18.4.0/24", ip::Prefix::parse("198.18.4.0/24"), {}, {}, {}, {}, {}};
    const auto now = std::chrono::system_clock::now();
    pool.cooling = {{ip::Address::parse("198.18.4.2"), now - 1s},  // its cooling ended: not shown
                    {ip::Address::parse("198.18.4.3"), now + 1h}};
    leases.pools.push_back(pool);
    return leases;
}

TEST(LeasesReportTest, TextShowsTheExclusionsAndTheAddressesStillCooling) {
    const auto text = leasesText(sample(), "l.json", true);
    EXPECT_NE(text.find("excluded (--exclude): 198.18.0.0/28"), std::string::npos) << text;
    EXPECT_NE(text.find("0 of 254 addresses held, 1 cooling"), std::string::npos) << text;
    EXPECT_NE(text.find("cooling: 198.18.4.3 until 20"), std::string::npos) << text;
    EXPECT_EQ(text.find("198.18.4.2 until"), std::string::npos) << text;
}

TEST(LeasesReportTest, JsonHasTheSameCounts) {
    const auto json = leasesJson(sample(), "l.json", true);
    const auto root = Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(root->getArray("excluded")->getElement<std::string>(0), "198.18.0.0/28");
    const auto pool = root->getArray("pools")->getObject(0);
    EXPECT_EQ(pool->getValue<int>("cooling"), 1);
    EXPECT_TRUE(pool->getObject("coolingUntil")->has("198.18.4.3"));
    EXPECT_FALSE(pool->getObject("coolingUntil")->has("198.18.4.2"));
}

}  // namespace
}  // namespace gipam::report
