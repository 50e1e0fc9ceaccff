#include "alloc/address_allocator.h"

namespace gipam::alloc {

AddressAllocator::AddressAllocator(ip::Prefix pool, std::optional<ip::Prefix> subPool, Order order)
    : pool_(pool), subPool_(subPool), order_(order) {}

bool AddressAllocator::isReservedByProtocol(const ip::Address& address) const {
    // /31 and /32 (v4), /127 and /128 (v6) have no network or broadcast address to spare.
    if (pool_.hostBits() < 2) return false;
    const ip::U128 offset = pool_.offsetOf(address);
    if (offset == 0) return true;
    return pool_.family() == ip::Family::V4 && offset == pool_.lastOffset();
}

std::optional<AddressAllocator::Span> AddressAllocator::hostSpan(const ip::Prefix& prefix) const {
    Span span{pool_.offsetOf(prefix.network()), pool_.offsetOf(prefix.last())};
    if (isReservedByProtocol(prefix.network())) ++span.first;
    if (span.first < span.last && isReservedByProtocol(prefix.last())) --span.last;
    if (span.first > span.last || isReservedByProtocol(pool_.at(span.first))) return std::nullopt;
    return span;
}

ip::Address AddressAllocator::take(ip::U128 offset, bool advanceCursor) {
    held_.insert(offset);
    taken_.insert(offset);
    if (advanceCursor) cursor_ = offset + 1;
    return pool_.at(offset);
}

std::optional<ip::U128> AddressAllocator::firstFree(ip::U128 from, ip::U128 to) const {
    while (from <= to) {
        const auto free = taken_.firstFree(from, to);
        if (!free || !excluded_.contains(*free)) return free;
        const auto past = excluded_.firstFree(*free, to);
        if (!past) return std::nullopt;
        from = *past;
    }
    return std::nullopt;
}

bool AddressAllocator::exclude(const ip::Address& first, const ip::Address& last) {
    if (first.family() != pool_.family() || last < first || last < pool_.network() || pool_.last() < first) return false;
    excluded_.unite(pool_.contains(first) ? pool_.offsetOf(first) : 0,
                    pool_.contains(last) ? pool_.offsetOf(last) : pool_.lastOffset());
    return true;
}

void AddressAllocator::excludeAsIn(const AddressAllocator& other) {
    for (const auto& [first, last] : other.excluded_.runs()) excluded_.unite(first, last);
}

std::optional<ip::Address> AddressAllocator::allocate() {
    const auto span = hostSpan(subPool_.value_or(pool_));
    if (!span) return std::nullopt;
    std::optional<ip::U128> offset;
    if (order_ == Order::RoundRobin && cursor_ > span->first && cursor_ <= span->last) {
        offset = firstFree(cursor_, span->last);
        if (!offset) offset = firstFree(span->first, cursor_ - 1);
    } else {
        offset = firstFree(span->first, span->last);
    }
    if (!offset) return std::nullopt;
    return take(*offset, true);
}

std::optional<ip::Address> AddressAllocator::allocateLowestInPool() {
    const auto span = hostSpan(pool_);
    const auto offset = span ? firstFree(span->first, span->last) : std::nullopt;
    if (!offset) return std::nullopt;
    return take(*offset, false);
}

AddressAllocator::ReserveResult AddressAllocator::reserveRun(const ip::Address& first, const ip::Address& last,
                                                             bool overExclusion) {
    if (!pool_.contains(first) || !pool_.contains(last) || last < first) return ReserveResult::NotInPool;
    // The protocol-reserved addresses are the pool's ends, so checking the run's ends suffices.
    if (isReservedByProtocol(first) || isReservedByProtocol(last)) return ReserveResult::NotAHost;
    if (!overExclusion && excluded_.anyIn(pool_.offsetOf(first), pool_.offsetOf(last))) return ReserveResult::Excluded;
    const ip::U128 from = pool_.offsetOf(first), to = pool_.offsetOf(last);
    if (!held_.insertRun(from, to)) return ReserveResult::AlreadyHeld;
    endCoolingIn(from, to);
    taken_.unite(from, to);
    return ReserveResult::Reserved;
}

bool AddressAllocator::release(const ip::Address& address) {
    if (!pool_.contains(address) || !held_.erase(pool_.offsetOf(address))) return false;
    taken_.erase(pool_.offsetOf(address));
    return true;
}

bool AddressAllocator::cool(const ip::Address& address, Time until) {
    if (!pool_.contains(address)) return false;
    const ip::U128 offset = pool_.offsetOf(address);
    if (held_.contains(offset)) return false;
    endCoolingIn(offset, offset);
    coolingUntil_.emplace(offset, until);
    coolingOrder_.emplace(until, offset);
    taken_.insert(offset);
    return true;
}

std::optional<AddressAllocator::Time> AddressAllocator::coolingUntil(const ip::Address& address) const {
    if (!pool_.contains(address)) return std::nullopt;
    const auto it = coolingUntil_.find(pool_.offsetOf(address));
    return it == coolingUntil_.end() ? std::nullopt : std::optional<Time>(it->second);
}

void AddressAllocator::endCooling(std::map<ip::U128, Time>::iterator cooling) {
    coolingOrder_.erase({cooling->second, cooling->first});
    taken_.erase(cooling->first);
    coolingUntil_.erase(cooling);
}

void AddressAllocator::endCoolingIn(ip::U128 first, ip::U128 last) {
    auto it = coolingUntil_.lower_bound(first);
    while (it != coolingUntil_.end() && it->first <= last) endCooling(it++);
}

void AddressAllocator::endCoolingBy(Time now) {
    while (!coolingOrder_.empty() && coolingOrder_.begin()->first <= now) {
        endCooling(coolingUntil_.find(coolingOrder_.begin()->second));
    }
}

std::optional<AddressAllocator::CoolingPick> AddressAllocator::allocateCoolest(bool wholePool) {
    const auto span = hostSpan(wholePool ? pool_ : subPool_.value_or(pool_));
    if (!span) return std::nullopt;
    for (const auto& [until, offset] : coolingOrder_) {
        if (offset < span->first || offset > span->last) continue;
        const CoolingPick pick{pool_.at(offset), until};  // endCooling erases the entry these refer to
        endCooling(coolingUntil_.find(offset));
        take(pool_.offsetOf(pick.address), !wholePool);
        return pick;
    }
    return std::nullopt;
}

bool AddressAllocator::isHeld(const ip::Address& address) const {
    return pool_.contains(address) && held_.contains(pool_.offsetOf(address));
}

}  // namespace gipam::alloc
