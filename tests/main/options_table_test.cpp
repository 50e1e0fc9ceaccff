// README's Options table and the settings gipam parses (what --help lists) are the same.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "main/config.h"

namespace gipam::config {
namespace {

// The `...` tokens of a table cell, without leading dashes.
std::vector<std::string> tokens(const std::string& cell) {
    std::vector<std::string> found;
    static const std::regex code("`-*([^`]+)`");
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), code); it != std::sregex_iterator(); ++it) {
        found.push_back((*it)[1]);
    }
    return found;
}

std::vector<std::string> cells(const std::string& row) {
    std::vector<std::string> out;
    std::stringstream in(row.substr(1));
    std::string cell;
    while (std::getline(in, cell, '|')) out.push_back(cell);
    return out;
}

TEST(OptionsTableTest, TheReadmeListsEverySettingWithItsVariableAndNothingElse) {
    std::ifstream readme(std::string(GIPAM_SOURCE_DIR) + "/README.md");
    ASSERT_TRUE(readme) << "README.md not found";
    std::set<std::pair<std::string, std::string>> documented;
    std::string line;
    bool inOptions = false;
    while (std::getline(readme, line)) {
        if (line.rfind("## ", 0) == 0) inOptions = line == "## Options";
        if (!inOptions || line.rfind("| `", 0) != 0) continue;
        const auto row = cells(line);
        ASSERT_GE(row.size(), 2u) << line;
        const auto flags = tokens(row[0]);
        const auto variables = tokens(row[1]);
        for (std::size_t i = 0; i < flags.size(); ++i) {
            if (flags[i] == "help" || flags[i] == "version") continue;
            documented.emplace(flags[i], variables.size() == flags.size() ? variables[i] : "");
        }
    }
    std::set<std::pair<std::string, std::string>> parsed;
    for (const auto& setting : daemonSettings()) parsed.emplace(setting.flag, setting.variable);
    for (const auto& setting : parsed) {
        EXPECT_TRUE(documented.count(setting)) << "README's Options table lacks --" << setting.first << " ("
                                               << setting.second << ")";
    }
    for (const auto& setting : documented) {
        EXPECT_TRUE(parsed.count(setting)) << "README documents --" << setting.first << " (" << setting.second
                                           << "), which gipam does not take so";
    }
}

}  // namespace
}  // namespace gipam::config
