#include "json/json_string.h"

#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

namespace gipam::json {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(quote(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
    EXPECT_EQ(quote("a\nb\rc\td"), R"("a\nb\rc\td")");
    EXPECT_EQ(quote(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
    EXPECT_EQ(quote(std::string("nul\0end", 7)), R"("nul\u0000end")");
}

TEST(JsonString, PassesSlashesAndUtf8Through) {
    EXPECT_EQ(quote("gipam-local/2001:db8::/64"), R"("gipam-local/2001:db8::/64")");
    EXPECT_EQ(quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonString, EveryByteRoundTripsThroughAJsonParser) {
    std::string all;
    for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
    const auto parsed = Poco::JSON::Parser().parse("[" + quote(all) + "]");
    EXPECT_EQ(parsed.extract<Poco::JSON::Array::Ptr>()->getElement<std::string>(0), all);
}

TEST(JsonString, AppendsToWhatIsThere) {
    std::string out = "{\"k\":";
    appendString(out, "v");
    EXPECT_EQ(out, R"({"k":"v")");
}

}  // namespace
}  // namespace gipam::json
