#include "ipam/pool_table.h"

#include <algorithm>
#include <iterator>

namespace gipam::ipam {

bool isInSpace(const std::string& poolId, std::string_view space) {
    return poolId.size() > space.size() && poolId.compare(0, space.size(), space) == 0 && poolId[space.size()] == '/';
}

std::optional<ip::Address> storedCursor(const alloc::AddressAllocator& addresses) {
    if (addresses.order() == alloc::AddressAllocator::Order::RoundRobin && addresses.cursor() != 0 &&
        addresses.cursor() <= addresses.pool().lastOffset()) {
        return addresses.pool().at(addresses.cursor());
    }
    return std::nullopt;
}

PoolTable::PoolTable(std::optional<store::Supernet> v4, std::optional<store::Supernet> v6,
                     std::vector<store::AddressRun> excluded)
    : v4_(std::move(v4)), v6_(std::move(v6)), excluded_(std::move(excluded)) {
    if (v4_) v4Blocks_.emplace(v4_->prefix);
    if (v6_) v6Blocks_.emplace(v6_->prefix);
    for (const auto& supernet : {v4_, v6_}) {
        if (supernet) excludeBlocksIn(supernet->prefix);
    }
}

void PoolTable::excludeBlocksIn(const ip::Prefix& within) {
    for (const auto& run : excluded_) {
        if (run.first.family() != within.family() || run.last < within.network() || within.last() < run.first) continue;
        const auto first = std::max(run.first, within.network());
        const auto last = std::min(run.last, within.last());
        for (const auto& block : ip::prefixesCovering(first, last)) excludeBlock(block);
    }
}

void PoolTable::excludeBlock(const ip::Prefix& block) {
    auto* blocks = blocksFor(block.family());
    if (!blocks || !blocks->supernet().contains(block)) return;
    if (blocks->reserve(block)) {
        excludedBlocks_.push_back(block);
        return;
    }
    // Something holds part of it: a pool, a block held elsewhere, another exclusion.
    const Pool* pool = overlapping(block);
    if (pool && pool->addresses.pool().contains(block)) return;
    const auto covers = [&](const ip::Prefix& held) { return held.contains(block); };
    if (std::any_of(excludedBlocks_.begin(), excludedBlocks_.end(), covers) ||
        std::any_of(heldElsewhere_.begin(), heldElsewhere_.end(), covers) || block.hostBits() == 0) {
        return;
    }
    const ip::Prefix lower(block.network(), block.length() + 1);
    excludeBlock(lower);
    excludeBlock(ip::Prefix(ip::Address(block.family(), lower.last().value() + 1), block.length() + 1));
}

const std::optional<store::Supernet>& PoolTable::supernetFor(ip::Family family) const {
    return family == ip::Family::V4 ? v4_ : v6_;
}

alloc::BlockAllocator* PoolTable::blocksFor(ip::Family family) {
    auto& blocks = family == ip::Family::V4 ? v4Blocks_ : v6Blocks_;
    return blocks ? &*blocks : nullptr;
}

const Pool* PoolTable::overlapping(const ip::Prefix& prefix) const {
    // Held prefixes are disjoint, so only the nearest one at or below `prefix` can contain
    // it, and only the nearest one above can lie inside it.
    const auto key = std::make_pair(prefix.family(), prefix.network().value());
    auto above = prefixes_.upper_bound(key);
    if (above != prefixes_.end() && above->first.first == prefix.family()) {
        const Pool& pool = pools_.at(above->second);
        if (prefix.contains(pool.addresses.pool())) return &pool;
    }
    if (above != prefixes_.begin()) {
        const Pool& pool = pools_.at(std::prev(above)->second);
        if (pool.addresses.pool().overlaps(prefix)) return &pool;
    }
    return nullptr;
}

Pool* PoolTable::find(const std::string& poolId) {
    const auto it = pools_.find(poolId);
    return it == pools_.end() ? nullptr : &it->second;
}

const Pool* PoolTable::find(const std::string& poolId) const {
    const auto it = pools_.find(poolId);
    return it == pools_.end() ? nullptr : &it->second;
}

void PoolTable::insert(Pool pool) {
    const ip::Prefix prefix = pool.addresses.pool();
    for (const auto& run : excluded_) pool.addresses.exclude(run.first, run.last);
    std::vector<ip::Prefix> around;  // exclusion blocks larger than the pool, to hold again around it
    const auto key = std::make_pair(prefix.family(), prefix.network().value());
    if (!pool.copyOf.empty()) {
        pools_.at(pool.copyOf).copy = pool.id;
    } else if (!pool.copy.empty()) {
        // Undoing the release of a pool whose copy took over its block: the copy steps back.
        pools_.at(pool.copy).copyOf = pool.id;
        prefixes_[key] = pool.id;
    } else {
        if (auto* blocks = blocksFor(prefix.family()); blocks && blocks->supernet().contains(prefix)) {
            if (!blocks->reserve(prefix)) {
                // Marked held elsewhere when this node last looked; now it is this node's.
                std::erase_if(heldElsewhere_, [&](const ip::Prefix& block) {
                    if (!block.overlaps(prefix)) return false;
                    blocks->release(block);
                    return true;
                });
                // Asked for by subnet over an exclusion: the pool holds that part while it lives.
                std::erase_if(excludedBlocks_, [&](const ip::Prefix& block) {
                    if (!block.overlaps(prefix)) return false;
                    blocks->release(block);
                    if (block.length() < prefix.length()) around.push_back(block);
                    return true;
                });
                blocks->reserve(prefix);
            }
        }
        prefixes_.emplace(key, pool.id);
    }
    const std::string id = pool.id;
    pools_.emplace(id, std::move(pool));
    for (const auto& block : around) excludeBlocksIn(block);
}

Pool PoolTable::erase(const std::string& poolId) {
    auto node = pools_.extract(poolId);
    Pool pool = std::move(node.mapped());
    const ip::Prefix prefix = pool.addresses.pool();
    const auto key = std::make_pair(prefix.family(), prefix.network().value());
    if (!pool.copyOf.empty()) {
        pools_.at(pool.copyOf).copy.clear();
    } else if (!pool.copy.empty()) {
        // The network still lives on as the copy (swarm released its side first).
        pools_.at(pool.copy).copyOf.clear();
        prefixes_[key] = pool.copy;
    } else {
        prefixes_.erase(key);
        if (auto* blocks = blocksFor(prefix.family()); blocks && blocks->supernet().contains(prefix)) {
            blocks->release(prefix);
            excludeBlocksIn(prefix);
        }
    }
    return pool;
}

void PoolTable::holdElsewhere(const ip::Prefix& block) {
    auto* blocks = blocksFor(block.family());
    if (blocks && blocks->supernet().contains(block) && blocks->reserve(block)) heldElsewhere_.push_back(block);
}

bool PoolTable::forgetHeldElsewhere() {
    if (heldElsewhere_.empty()) return false;
    for (const auto& block : heldElsewhere_) blocksFor(block.family())->release(block);
    heldElsewhere_.clear();
    return true;
}

store::PoolRecord PoolTable::record(const Pool& pool) const {
    const auto& addresses = pool.addresses;
    store::PoolRecord record{pool.id,   addresses.pool(), addresses.subPool(), pool.options, storedCursor(addresses),
                             {},        pool.swarmPool};
    record.addresses.reserve(addresses.held().runs().size());
    for (const auto& [first, last] : addresses.held().runs()) {
        record.addresses.push_back({addresses.pool().at(first), addresses.pool().at(last)});
    }
    record.cooling.reserve(addresses.cooling().size());
    for (const auto& [offset, until] : addresses.cooling()) record.cooling.push_back({addresses.pool().at(offset), until});
    return record;
}

store::Leases PoolTable::leases() const {
    store::Leases leases{v4_, v6_, {}, std::nullopt, excluded_};
    leases.pools.reserve(pools_.size());
    for (const auto& entry : pools_) leases.pools.push_back(record(entry.second));
    return leases;
}

}  // namespace gipam::ipam
