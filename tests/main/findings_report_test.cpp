// `gipam check`'s report: the JSON keys scripts read, and the text people read.
#include "main/findings_report.h"

#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

namespace gipam::commands {
namespace {

reconcile::Findings someOfEach() {
    reconcile::Findings findings;
    findings.leakedPools.push_back({"gipam-local/198.18.1.0/24", ip::Prefix::parse("198.18.1.0/24")});
    findings.leakedAddresses.push_back({"gipam-local/198.18.0.0/24", ip::Address::parse("198.18.0.9")});
    findings.missingPools.push_back({"lan", ip::Prefix::parse("198.18.2.0/24")});
    findings.missingAddresses.push_back(
        {"web", "gipam-local/198.18.0.0/24", ip::Address::parse("198.18.0.7"), "container c1"});
    findings.foreign.push_back("5f0c8ad2-go-gipam-pool");
    findings.storeLeaks.push_back({"/gipam/pools/p/addresses/198.18.3.4", 7, "address 198.18.3.4 of pool p"});
    return findings;
}

TEST(FindingsReportTest, TheJsonHasEveryListUnderItsKey) {
    const auto parsed = Poco::JSON::Parser().parse(findingsJson(someOfEach())).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(parsed->getArray("leakedPools")->getObject(0)->getValue<std::string>("pool"), "198.18.1.0/24");
    EXPECT_EQ(parsed->getArray("leakedAddresses")->getObject(0)->getValue<std::string>("address"), "198.18.0.9");
    EXPECT_EQ(parsed->getArray("missingPools")->getObject(0)->getValue<std::string>("subnet"), "198.18.2.0/24");
    const auto missing = parsed->getArray("missingAddresses")->getObject(0);
    EXPECT_EQ(missing->getValue<std::string>("network"), "web");
    EXPECT_EQ(missing->getValue<std::string>("user"), "container c1");
    EXPECT_EQ(parsed->getArray("foreign")->getElement<std::string>(0), "5f0c8ad2-go-gipam-pool");
    EXPECT_EQ(parsed->getArray("storeLeaks")->size(), 1u);
}

TEST(FindingsReportTest, NothingFoundSaysSoAndTheJsonHasEmptyLists) {
    EXPECT_EQ(findingsText({}), "nothing leaked, nothing missing: gipam and Docker agree\n");
    const auto parsed = Poco::JSON::Parser().parse(findingsJson({})).extract<Poco::JSON::Object::Ptr>();
    for (const auto* key : {"leakedPools", "leakedAddresses", "missingPools", "missingAddresses", "foreign", "storeLeaks"}) {
        ASSERT_TRUE(parsed->has(key)) << key;
        EXPECT_EQ(parsed->getArray(key)->size(), 0u) << key;
    }
}

TEST(FindingsReportTest, TheTextPutsWhatIsMissingFirstAndNamesEachThing) {
    const auto text = findingsText(someOfEach());
    const auto missing = text.find("MISSING");
    const auto leaked = text.find("leaked:");
    ASSERT_NE(missing, std::string::npos) << text;
    ASSERT_NE(leaked, std::string::npos) << text;
    EXPECT_LT(missing, leaked);
    for (const auto* shown : {"198.18.2.0/24  of network lan", "198.18.0.7  in gipam-local/198.18.0.0/24, container c1",
                              "pool    gipam-local/198.18.1.0/24", "address 198.18.0.9", "5f0c8ad2-go-gipam-pool",
                              "(/gipam/pools/p/addresses/198.18.3.4)"}) {
        EXPECT_NE(text.find(shown), std::string::npos) << shown << " in\n" << text;
    }
}

TEST(FindingsReportTest, TheMetricsAreTheGaugesTheAlertRulesRead) {
    const auto text = findingsMetrics(someOfEach(), 1796000000);
    // conf/gipam-alerts.yml reads these names.
    for (const auto* line : {"gipam_check_missing_addresses 1\n", "gipam_check_missing_pools 1\n",
                             "gipam_check_leaked_addresses 1\n", "gipam_check_leaked_pools 1\n",
                             "gipam_check_store_leaks 1\n", "gipam_check_foreign_pools 1\n",
                             "gipam_check_timestamp_seconds 1796000000\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
    }
    EXPECT_NE(text.find("# TYPE gipam_check_missing_addresses gauge\n"), std::string::npos) << text;
    EXPECT_NE(findingsMetrics({}, 0).find("gipam_check_leaked_addresses 0\n"), std::string::npos);
}

}  // namespace
}  // namespace gipam::commands
