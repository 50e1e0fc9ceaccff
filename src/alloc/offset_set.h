// A set of 128-bit offsets stored as merged runs.
#pragma once

#include <map>
#include <optional>

#include "ip/address.h"

namespace gipam::alloc {

/// Held offsets as disjoint, non-adjacent runs [first, last]. Memory grows with the number of
/// runs, not the span of the pool; every operation is O(log runs).
class OffsetSet {
public:
    using Runs = std::map<ip::U128, ip::U128>;  // first -> last

    bool contains(ip::U128 offset) const;
    /// Adds one offset; false if it was already held.
    bool insert(ip::U128 offset);
    /// Adds a run [first, last]; false, changing nothing, if any offset in it is held.
    bool insertRun(ip::U128 first, ip::U128 last);
    /// Removes one offset; false if it was not held.
    bool erase(ip::U128 offset);
    /// The lowest offset in [from, to] that is not held.
    std::optional<ip::U128> firstFree(ip::U128 from, ip::U128 to) const;
    /// Adds [first, last], merging with what is held in or beside it: O(log runs + runs merged).
    void unite(ip::U128 first, ip::U128 last);
    /// Whether any offset in [first, last] is held.
    bool anyIn(ip::U128 first, ip::U128 last) const;

    const Runs& runs() const { return runs_; }
    /// Number of held offsets.
    ip::U128 count() const { return count_; }
    bool empty() const { return runs_.empty(); }

private:
    // The run containing `offset`, or runs_.end().
    Runs::const_iterator find(ip::U128 offset) const;

    Runs runs_;
    ip::U128 count_ = 0;
};

}  // namespace gipam::alloc
