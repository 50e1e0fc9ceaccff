// Cuts aligned blocks out of a supernet, buddy-style, lowest address first.
#pragma once

#include <array>
#include <optional>
#include <set>

#include "ip/prefix.h"

namespace gipam::alloc {

/// Tracks which aligned blocks of a supernet are free. Free space is kept as buddy free
/// lists (one sorted set per prefix length), so every operation costs O(128 log n) no matter
/// how large the supernet is, and mixed block sizes share it without waste.
class BlockAllocator {
public:
    explicit BlockAllocator(ip::Prefix supernet);

    const ip::Prefix& supernet() const { return supernet_; }

    /// The lowest free aligned block of `length` (which must be >= the supernet's), now held;
    /// nullopt when none is free.
    std::optional<ip::Prefix> allocate(int length);

    /// Holds exactly `block` (inside the supernet). False, changing nothing, if any part of
    /// it is already held.
    bool reserve(const ip::Prefix& block);

    /// Frees a block earlier returned by allocate() or accepted by reserve().
    void release(const ip::Prefix& block);

private:
    // Size of a block of `length`; only for length >= 1, as a /0 does not fit in 128 bits.
    ip::U128 blockSize(int length) const { return ip::U128{1} << (ip::bitWidth(supernet_.family()) - length); }
    // `value` rounded down to the start of its block of `length`.
    ip::U128 alignDown(ip::U128 value, int length) const {
        return value & ~ip::lowMask(ip::bitWidth(supernet_.family()) - length);
    }

    ip::Prefix supernet_;
    // freeByLength_[l] holds the network values of the free blocks of prefix length l.
    std::array<std::set<ip::U128>, 129> freeByLength_;
};

}  // namespace gipam::alloc
