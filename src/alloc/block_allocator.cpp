#include "alloc/block_allocator.h"

namespace gipam::alloc {

BlockAllocator::BlockAllocator(ip::Prefix supernet) : supernet_(supernet) {
    freeByLength_[supernet_.length()].insert(supernet_.network().value());
}

std::optional<ip::Prefix> BlockAllocator::allocate(int length) {
    if (length < supernet_.length() || length > ip::bitWidth(supernet_.family())) return std::nullopt;
    // Every free aligned block of `length` starts some free block at least that large, so the
    // lowest one is the lowest head among the free lists of lengths <= `length`.
    std::optional<ip::U128> lowest;
    int lowestLength = 0;
    for (int l = supernet_.length(); l <= length; ++l) {
        const auto& free = freeByLength_[l];
        if (!free.empty() && (!lowest || *free.begin() < *lowest)) {
            lowest = *free.begin();
            lowestLength = l;
        }
    }
    if (!lowest) return std::nullopt;
    freeByLength_[lowestLength].erase(*lowest);
    for (int l = lowestLength + 1; l <= length; ++l) freeByLength_[l].insert(*lowest + blockSize(l));
    return ip::Prefix(ip::Address(supernet_.family(), *lowest), length);
}

bool BlockAllocator::reserve(const ip::Prefix& block) {
    if (!supernet_.contains(block)) return false;
    const ip::U128 start = block.network().value();
    for (int l = supernet_.length(); l <= block.length(); ++l) {
        const ip::U128 containing = alignDown(start, l);
        if (freeByLength_[l].erase(containing) == 0) continue;
        // Split the free block down to `block`, freeing the halves that do not contain it.
        for (int split = l + 1; split <= block.length(); ++split) {
            const ip::U128 half = blockSize(split);
            const ip::U128 left = alignDown(start, split - 1);
            freeByLength_[split].insert((start & half) ? left : left + half);
        }
        return true;
    }
    return false;
}

void BlockAllocator::release(const ip::Prefix& block) {
    ip::U128 start = block.network().value();
    int length = block.length();
    while (length > supernet_.length()) {
        const ip::U128 buddy = start ^ blockSize(length);
        if (freeByLength_[length].erase(buddy) == 0) break;
        start &= ~blockSize(length);
        --length;
    }
    freeByLength_[length].insert(start);
}

}  // namespace gipam::alloc
