// Text form of Leases: gipam's JSON lease file, and the Go gipam's for migration.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/leases.h"

namespace gipam::store {

/// Thrown for text that is not a valid lease file; the message says what and where.
class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Addresses in any order, with repeats, as maximal runs in ascending order.
std::vector<AddressRun> toRuns(std::vector<ip::Address> addresses);

/// A time as the lease file and etcd keep it: UTC, to the millisecond, "2026-12-07T14:05:00.123Z".
std::string formatTime(std::chrono::system_clock::time_point time);
/// nullopt for text formatTime did not write.
std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text);

/// An exclusion as the lease file writes it: "198.18.0.0/28" when it is one prefix, else
/// "FIRST-LAST" or one address.
std::string exclusionText(const AddressRun& run);
/// Reads what exclusionText writes (a prefix, one address, or FIRST-LAST of one family with
/// FIRST <= LAST); ip::ParseError saying what is wrong otherwise.
AddressRun parseExclusion(std::string_view text);

/// gipam's lease file JSON (format 1, documented in README.md).
std::string encodeLeases(const Leases& leases);

/// Reads gipam's format, or the Go gipam's (recognised by its "allocated"/"v4idx" keys and
/// the missing "format" key). Throws FormatError naming the line and column or the bad value.
Leases decodeLeases(std::string_view text);

}  // namespace gipam::store
