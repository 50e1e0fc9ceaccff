// Hands out host addresses inside one pool.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "alloc/offset_set.h"
#include "ip/prefix.h"

namespace gipam::alloc {

/// The held addresses of one pool and the policy for picking the next one. Never enumerates
/// the pool: a /64 costs memory only for the addresses that are held, cooling or excluded.
///
/// A released address may cool (a reuse delay): until a wall-clock time, the automatic picks
/// skip it, as stale ARP entries, conntrack state and DNS answers still point at it. Asked for
/// by value it is granted at once.
class AddressAllocator {
public:
    using Time = std::chrono::system_clock::time_point;
    enum class Order { LowestFirst, RoundRobin };
    enum class ReserveResult { Reserved, AlreadyHeld, NotInPool, NotAHost, Excluded };

    /// Automatic picks come from `subPool` (Docker's --ip-range, inside `pool`) or, without one, the whole
    /// pool. RoundRobin continues after the last pick so a released address is not reused at once.
    AddressAllocator(ip::Prefix pool, std::optional<ip::Prefix> subPool, Order order);

    const ip::Prefix& pool() const { return pool_; }
    const std::optional<ip::Prefix>& subPool() const { return subPool_; }
    Order order() const { return order_; }

    /// The next free host address of the sub-pool, now held; nullopt when it is full.
    std::optional<ip::Address> allocate();
    /// The lowest free host address of the whole pool, ignoring the sub-pool (for gateways).
    std::optional<ip::Address> allocateLowestInPool();
    /// Holds a specific address anywhere in the pool.
    ReserveResult reserve(const ip::Address& address) { return reserveRun(address, address); }
    /// Holds every address from `first` to `last` (both in the pool); changes nothing unless
    /// the result is Reserved. An excluded address is refused unless `overExclusion` (a
    /// network's --gateway: the router a macvlan LAN's exclusions often name).
    ReserveResult reserveRun(const ip::Address& first, const ip::Address& last, bool overExclusion = false);
    /// Never hands out `first`..`last` (clamped to the pool) by itself, and refuses them by
    /// value: one interval, whatever its size. False if none of it is in the pool.
    bool exclude(const ip::Address& first, const ip::Address& last);
    /// The exclusions of `other` (a pool of the same prefix), added to this one's.
    void excludeAsIn(const AddressAllocator& other);
    const OffsetSet& excluded() const { return excluded_; }
    /// Holds an address the protocol reserves (isReservedByProtocol), as lease files of the Go
    /// gipam, which handed out the IPv4 broadcast, require; allocate() never returns it.
    void holdReservedAddress(const ip::Address& address) {
        held_.insert(pool_.offsetOf(address));
        taken_.insert(pool_.offsetOf(address));
    }
    /// Frees an address; false if it was not held.
    bool release(const ip::Address& address);
    /// Marks a free address as cooling until `until` (replacing an earlier time); false, changing
    /// nothing, if it is held or outside the pool.
    bool cool(const ip::Address& address, Time until);
    /// Frees the addresses whose cooling ended by `now`: O(log n) for each.
    void endCoolingBy(Time now);
    /// The address that has cooled longest, now held and no longer cooling, and until when it
    /// was to cool: the fallback when allocate() (the sub-pool, or with `wholePool`
    /// allocateLowestInPool()) finds nothing free. Looks at cooling addresses outside the
    /// sub-pool on the way; nullopt when none is in it.
    struct CoolingPick {
        ip::Address address;
        Time until;
    };
    std::optional<CoolingPick> allocateCoolest(bool wholePool);
    /// Until when `address` cools; nullopt if it does not.
    std::optional<Time> coolingUntil(const ip::Address& address) const;
    /// Cooling addresses by offset into the pool, and until when each cools.
    const std::map<ip::U128, Time>& cooling() const { return coolingUntil_; }
    bool isHeld(const ip::Address& address) const;
    /// True for the network address, the IPv4 broadcast and the IPv6 subnet-router anycast.
    bool isReservedByProtocol(const ip::Address& address) const;

    const OffsetSet& held() const { return held_; }
    /// Where the next round-robin search starts (an offset into the pool).
    ip::U128 cursor() const { return cursor_; }
    void setCursor(ip::U128 cursor) { cursor_ = cursor; }

private:
    struct Span {
        ip::U128 first;
        ip::U128 last;
    };
    // Host offsets inside `prefix` (a sub-prefix of the pool), without the protocol-reserved
    // ones; nullopt when no host address is left.
    std::optional<Span> hostSpan(const ip::Prefix& prefix) const;
    // Holds `offset`; `advanceCursor` for the picks that round-robin continues after.
    ip::Address take(ip::U128 offset, bool advanceCursor);
    // Ends the cooling of every offset in [first, last].
    void endCoolingIn(ip::U128 first, ip::U128 last);
    void endCooling(std::map<ip::U128, Time>::iterator cooling);
    // The lowest offset in [from, to] neither taken nor excluded; each step skips a whole run.
    std::optional<ip::U128> firstFree(ip::U128 from, ip::U128 to) const;

    ip::Prefix pool_;
    std::optional<ip::Prefix> subPool_;
    Order order_;
    OffsetSet held_;
    OffsetSet taken_;  // held or cooling: what the automatic picks skip, runs merged across both
    std::map<ip::U128, Time> coolingUntil_;
    std::set<std::pair<Time, ip::U128>> coolingOrder_;  // oldest end first
    OffsetSet excluded_;  // a network's gipam.exclude, never in the lease file's addresses
    ip::U128 cursor_ = 0;
};

}  // namespace gipam::alloc
