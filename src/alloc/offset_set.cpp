#include "alloc/offset_set.h"

#include <algorithm>
#include <iterator>

namespace gipam::alloc {

OffsetSet::Runs::const_iterator OffsetSet::find(ip::U128 offset) const {
    auto after = runs_.upper_bound(offset);
    if (after == runs_.begin()) return runs_.end();
    auto run = std::prev(after);
    return run->second >= offset ? run : runs_.end();
}

bool OffsetSet::contains(ip::U128 offset) const {
    return find(offset) != runs_.end();
}

bool OffsetSet::insert(ip::U128 offset) {
    return insertRun(offset, offset);
}

bool OffsetSet::insertRun(ip::U128 first, ip::U128 last) {
    auto after = runs_.upper_bound(last);
    if (after != runs_.begin()) {
        auto before = std::prev(after);
        if (before->second >= first) return false;  // the nearest run at or below `last` overlaps
    }
    count_ += last - first + 1;
    // Merge with an adjacent run on either side so runs stay maximal.
    if (after != runs_.end() && last != ~ip::U128{0} && after->first == last + 1) {
        last = after->second;
        after = runs_.erase(after);
    }
    if (after != runs_.begin()) {
        auto before = std::prev(after);
        if (before->second + 1 == first) {
            before->second = last;
            return true;
        }
    }
    runs_.emplace_hint(after, first, last);
    return true;
}

bool OffsetSet::erase(ip::U128 offset) {
    auto run = find(offset);
    if (run == runs_.end()) return false;
    const ip::U128 first = run->first;
    const ip::U128 last = run->second;
    auto next = runs_.erase(run);
    if (first < offset) runs_.emplace_hint(next, first, offset - 1);
    if (offset < last) runs_.emplace_hint(next, offset + 1, last);
    --count_;
    return true;
}

void OffsetSet::unite(ip::U128 first, ip::U128 last) {
    // Every run overlapping or adjacent to [first, last] is folded into one.
    auto run = runs_.upper_bound(first);
    if (run != runs_.begin() && (std::prev(run)->second >= first || std::prev(run)->second + 1 == first)) --run;
    while (run != runs_.end() && (run->first <= last || (last != ~ip::U128{0} && run->first == last + 1))) {
        first = std::min(first, run->first);
        last = std::max(last, run->second);
        count_ -= run->second - run->first + 1;
        run = runs_.erase(run);
    }
    count_ += last - first + 1;
    runs_.emplace_hint(run, first, last);
}

bool OffsetSet::anyIn(ip::U128 first, ip::U128 last) const {
    // The run starting at or before `last`, if any, is the only one that can reach into it.
    auto run = runs_.upper_bound(last);
    if (run == runs_.begin()) return false;
    --run;
    return run->second >= first;
}

std::optional<ip::U128> OffsetSet::firstFree(ip::U128 from, ip::U128 to) const {
    if (from > to) return std::nullopt;
    auto run = find(from);
    if (run == runs_.end()) return from;
    // Runs are maximal, so the offset after a run is free unless it is past the range.
    if (run->second >= to) return std::nullopt;
    return run->second + 1;
}

}  // namespace gipam::alloc
