#include "ipam/service.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <iterator>

#include "ipam/pool_options.h"
#include "log/log.h"
#include "metrics/metrics.h"

namespace gipam::ipam {
namespace {

using ReserveResult = alloc::AddressAllocator::ReserveResult;

alloc::AddressAllocator::Order orderFor(const PoolOptions& options) {
    return options.serial ? alloc::AddressAllocator::Order::RoundRobin : alloc::AddressAllocator::Order::LowestFirst;
}

ip::Prefix parsePrefix(const std::string& text, const std::string& what) {
    try {
        return ip::Prefix::parse(text);
    } catch (const ip::ParseError& error) {
        throw IpamError(what + " " + error.what());
    }
}

// Whether `poolId` is of `space` ("gipam-local/..."); PoolIDs of the Go gipam are of none.
bool isInSpace(const std::string& poolId, std::string_view space) {
    return poolId.size() > space.size() && poolId.compare(0, space.size(), space) == 0 && poolId[space.size()] == '/';
}

ip::Address parseAddress(const std::string& text, const std::string& what) {
    try {
        return ip::Address::parse(text);
    } catch (const ip::ParseError& error) {
        throw IpamError(what + " " + error.what());
    }
}

std::string noSupernetMessage(ip::Family family) {
    return "no " + std::string(ip::familyName(family)) + " supernet is configured in gipam (start it with " +
           (family == ip::Family::V4 ? "-v4" : "-v6") + " CIDR, or give --subnet)";
}

bool isIpv4Mapped(const ip::Prefix& prefix) {
    static const ip::Prefix mapped = ip::Prefix::parse("::ffff:0:0/96");
    return mapped.overlaps(prefix);
}

bool isGatewayRequest(const Options& options) {
    const auto it = options.find(std::string(kRequestAddressType));
    return it != options.end() && it->second == kGatewayType;
}

std::string describeReserveFailure(ReserveResult result, const ip::Address& address, const ip::Prefix& pool,
                                   const std::string& poolId) {
    const std::string text = address.toString();
    switch (result) {
        case ReserveResult::AlreadyHeld:
            return "address " + text + " is already allocated in pool " + poolId;
        case ReserveResult::NotAHost:
            if (address == pool.network()) return "address " + text + " is the network address of pool " + poolId;
            return "address " + text + " is the broadcast address of pool " + poolId;
        case ReserveResult::NotInPool:
            if (address.family() != pool.family()) {
                return "address " + text + " is " + std::string(ip::familyName(address.family())) + " but pool " +
                       poolId + " is " + std::string(ip::familyName(pool.family()));
            }
            return "address " + text + " is outside pool " + poolId;
        case ReserveResult::Reserved:
            break;
    }
    return {};
}

// std::atomic::wait spins with sched_yield before it sleeps; on a virtual machine every yield
// is a costly context switch, and each write wakes many waiters at once. A futex just sleeps.
void waitWhileEqual(std::atomic<std::uint32_t>& word, std::uint32_t seen) {
    static_assert(sizeof word == sizeof(std::uint32_t) && std::atomic<std::uint32_t>::is_always_lock_free);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

void wakeAll(std::atomic<std::uint32_t>& word) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

std::string poolIdFor(std::string_view space, const ip::Prefix& pool, const std::optional<ip::Prefix>& range) {
    return std::string(space) + "/" + pool.toString() + (range ? "/" + range->toString() : "");
}

std::string_view refusalName(Refusal reason) {
    switch (reason) {
        case Refusal::Overlap: return "overlap";
        case Refusal::Exhausted: return "exhausted";
        case Refusal::UnknownPool: return "unknown_pool";
        case Refusal::AlreadyAllocated: return "already_allocated";
        case Refusal::Limit: return "limit";
        case Refusal::StoreFailure: return "store_failure";
        case Refusal::Invalid: break;
    }
    return "invalid";
}

IpamService::IpamService(const store::Leases& leases, store::LeaseStore& store, std::vector<std::string>* warnings)
    : store_(store), v4_(leases.v4), v6_(leases.v6) {
    if (v4_) v4Blocks_.emplace(v4_->prefix);
    if (v6_) v6Blocks_.emplace(v6_->prefix);
    for (const auto& record : leases.pools) {
        const std::string where = "pool " + record.id + ": ";
        if (pools_.count(record.id)) throw IpamError(where + "the ID appears twice");
        if (record.subPool && !record.pool.contains(*record.subPool)) {
            throw IpamError(where + "ip-range " + record.subPool->toString() + " is outside " + record.pool.toString());
        }
        PoolOptions options;
        std::string copyOf;
        try {
            copyOf = copyTargetFor(record.id, record.pool);
            checkStaticPool(record.pool);
            options = PoolOptions::parse(record.options);
        } catch (const IpamError& error) {
            throw IpamError(where + error.what(), error.reason());
        }
        Pool pool{record.id, alloc::AddressAllocator(record.pool, record.subPool, orderFor(options)), record.options,
                  copyOf, {}};
        for (auto run : record.addresses) {
            if (record.pool.family() == ip::Family::V4 && run.last == record.pool.last() &&
                pool.addresses.isReservedByProtocol(run.last)) {
                pool.addresses.holdReservedAddress(run.last);
                if (warnings) {
                    warnings->push_back(where + "the IPv4 broadcast address " + run.last.toString() +
                                        " is held (the Go gipam handed it out); it stays held until released and "
                                        "is never handed out again");
                }
                if (run.first == run.last) continue;
                run.last = record.pool.at(record.pool.lastOffset() - 1);
            }
            const auto result = pool.addresses.reserveRun(run.first, run.last);
            if (result != ReserveResult::Reserved) {
                throw IpamError(where + describeReserveFailure(result, run.first, record.pool, record.id));
            }
        }
        if (record.next) pool.addresses.setCursor(record.pool.offsetOf(*record.next));
        insertPool(std::move(pool));
    }
}

const std::optional<store::Supernet>& IpamService::supernetFor(ip::Family family) const {
    return family == ip::Family::V4 ? v4_ : v6_;
}

alloc::BlockAllocator* IpamService::blocksFor(ip::Family family) {
    auto& blocks = family == ip::Family::V4 ? v4Blocks_ : v6Blocks_;
    return blocks ? &*blocks : nullptr;
}

const IpamService::Pool* IpamService::overlapping(const ip::Prefix& prefix) const {
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

std::string IpamService::copyTargetFor(const std::string& id, const ip::Prefix& prefix) const {
    const Pool* other = overlapping(prefix);
    if (!other) return {};
    const bool swarmCopy =
        other->addresses.pool() == prefix && other->copy.empty() && other->copyOf.empty() &&
        ((isInSpace(id, kLocalAddressSpace) && isInSpace(other->id, kGlobalAddressSpace)) ||
         (isInSpace(id, kGlobalAddressSpace) && isInSpace(other->id, kLocalAddressSpace)));
    if (swarmCopy) return other->id;
    throw IpamError(
        "subnet " + prefix.toString() + " overlaps " + other->addresses.pool().toString() + " of pool " + other->id,
        Refusal::Overlap);
}

void IpamService::checkStaticPool(const ip::Prefix& prefix) const {
    // A pool that swallows a supernet would collide with every block cut from it later.
    const auto& supernet = supernetFor(prefix.family());
    if (supernet && prefix.contains(supernet->prefix)) {
        throw IpamError("subnet " + prefix.toString() + " covers gipam's whole " +
                        std::string(ip::familyName(prefix.family())) + " supernet " + supernet->prefix.toString());
    }
}

void IpamService::insertPool(Pool pool) {
    const ip::Prefix prefix = pool.addresses.pool();
    const auto key = std::make_pair(prefix.family(), prefix.network().value());
    if (!pool.copyOf.empty()) {
        pools_.at(pool.copyOf).copy = pool.id;
    } else if (!pool.copy.empty()) {
        // Undoing the release of a pool whose copy took over its block: the copy steps back.
        pools_.at(pool.copy).copyOf = pool.id;
        prefixes_[key] = pool.id;
    } else {
        if (auto* blocks = blocksFor(prefix.family()); blocks && blocks->supernet().contains(prefix)) {
            blocks->reserve(prefix);
        }
        prefixes_.emplace(key, pool.id);
    }
    const std::string id = pool.id;
    pools_.emplace(id, std::move(pool));
}

IpamService::Pool IpamService::erasePool(const std::string& poolId) {
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
        }
    }
    return pool;
}

void IpamService::dropPool(std::unique_lock<std::mutex>& lock, const std::string& poolId) {
    auto pool = std::make_shared<Pool>(erasePool(poolId));
    commit(lock, [this, pool] { insertPool(std::move(*pool)); });
}

bool IpamService::freeAddress(std::unique_lock<std::mutex>& lock, Pool& pool, const ip::Address& address) {
    if (!pool.addresses.release(address)) return false;
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    commit(lock, [this, id = pool.id, address] { pools_.at(id).addresses.reserve(address); });
    return true;
}

IpamService::Pool& IpamService::findPool(const std::string& poolId) {
    const auto it = pools_.find(poolId);
    if (it == pools_.end()) throw IpamError("unknown pool ID '" + poolId + "'", Refusal::UnknownPool);
    return it->second;
}

ip::Prefix IpamService::pickBlock(ip::Family family, std::optional<int> requestedLength) {
    const auto& supernet = supernetFor(family);
    if (!supernet) throw IpamError(noSupernetMessage(family));
    const int length = requestedLength.value_or(supernet->blockLength);
    if (length <= supernet->prefix.length() || length > maxBlockLength(family)) {
        throw IpamError("a /" + std::to_string(length) + " block does not fit in supernet " +
                        supernet->prefix.toString() + " (use /" + std::to_string(supernet->prefix.length() + 1) +
                        " to /" + std::to_string(maxBlockLength(family)) + ")");
    }
    auto block = blocksFor(family)->allocate(length);
    if (!block) {
        const int bits = length - supernet->prefix.length();
        throw IpamError("supernet " + supernet->prefix.toString() + " has no free /" + std::to_string(length) +
                        " block left (it holds " + ip::toDecimal(ip::lowMask(bits) + 1) + " of them)", Refusal::Exhausted);
    }
    return *block;
}

void IpamService::commit(std::unique_lock<std::mutex>& lock, Undo undo) {
    const std::uint64_t change = ++lastChange_;
    undoLog_.emplace_back(change, std::move(undo));
    lastArrival_ = std::chrono::steady_clock::now();
    // Wake a gathering writer only when its wait is over: a wake per change costs a context
    // switch each on the answer's critical path.
    if (writing_ && lastChange_ - resolvedChange_ >= activeCallers_) changeArrived_.notify_one();
    while (resolvedChange_ < change) {
        if (writing_) {
            // Wait without the mutex: one write answers many callers, and making each take the
            // mutex again on its way out would wake them one after another (a context switch
            // each) instead of all at once.
            const std::uint32_t seen = writesResolved_;
            lock.unlock();
            waitWhileEqual(writesResolved_, seen);
            if (resolvedChange_ >= change && unreportedFailures_ == 0) return;
            lock.lock();
            continue;
        }
        writing_ = true;
        // Callers answered by the last write tend to send their next change at once. Gather until
        // every caller that was waiting when it finished has a change pending again, or until
        // changes stop coming (none for kGatherGap), for at most kGatherWindow. Counting only the
        // last write's callers would settle into two groups alternating between writes; counting
        // the callers queued behind it too merges them into one. A lone caller never waits.
        if (activeCallers_ > 1) {
            const auto start = std::chrono::steady_clock::now();
            const auto deadline = start + kGatherWindow;
            while (lastChange_ - resolvedChange_ < activeCallers_) {
                // Changes queued during the last write arrived long ago: the gap counts from the
                // start of gathering at the earliest.
                const auto until = std::min(deadline, std::max(start, lastArrival_) + kGatherGap);
                if (std::chrono::steady_clock::now() >= until) break;
                changeArrived_.wait_until(lock, until);
            }
        }
        const std::uint64_t written = lastChange_;
        std::size_t undone = 0;
        const store::Leases leases = snapshotLocked();
        lock.unlock();
        std::string failure;
        const auto writeStarted = std::chrono::steady_clock::now();
        writeStarted_ = std::max<std::int64_t>(1, writeStarted.time_since_epoch().count());
        try {
            store_.save(leases);
        } catch (const std::exception& error) {
            failure = error.what();
        }
        writeStarted_ = 0;
        auto& instruments = metrics::instruments();
        instruments.durableWriteSeconds.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - writeStarted).count());
        lock.lock();
        instruments.changesPerWrite.observe(static_cast<double>(written - resolvedChange_));
        if (!failure.empty()) instruments.failedWrites.fetch_add(1, std::memory_order_relaxed);
        writing_ = false;
        const bool othersWaiting = lastChange_ - resolvedChange_ > 1;
        if (failure.empty()) {
            while (!undoLog_.empty() && undoLog_.front().first <= written) undoLog_.pop_front();
            activeCallers_ = lastChange_ - resolvedChange_;
            resolvedChange_ = written;
        } else {
            undone = undoLog_.size();
            // Later changes may build on earlier ones (an address in a pool), so undo newest first.
            for (auto it = undoLog_.rbegin(); it != undoLog_.rend(); ++it) {
                it->second();
                failures_.emplace(it->first, failure);
            }
            undoLog_.clear();
            unreportedFailures_ = failures_.size();
            activeCallers_ = 1;
            resolvedChange_ = lastChange_;
        }
        ++writesResolved_;
        if (othersWaiting) wakeAll(writesResolved_);
        if (undone > 0) {
            // Logged without the lock: a stalled stderr must not stop every request.
            lock.unlock();
            log::error("could not save " + std::to_string(undone) + " change(s), undone: " + failure);
            lock.lock();
        }
    }
    std::string failure;
    if (const auto it = failures_.find(change); it != failures_.end()) {
        failure = it->second;
        failures_.erase(it);
        unreportedFailures_ = failures_.size();
    }
    lock.unlock();
    if (!failure.empty()) throw IpamError("gipam could not save the change: " + failure, Refusal::StoreFailure);
}

PoolGrant IpamService::requestPool(const PoolRequest& request) {
    std::string_view space = request.addressSpace;
    if (space.empty()) {
        space = kLocalAddressSpace;
        static std::once_flag warned;
        std::call_once(warned, [] {
            log::warning(
                "RequestPool with an empty address space: this dockerd still has the names the Go gipam "
                "answered; serving it as " +
                std::string(kLocalAddressSpace) + " (restarting dockerd makes it use gipam's names)");
        });
    }
    if (space != kLocalAddressSpace && space != kGlobalAddressSpace) {
        throw IpamError("unknown address space '" + request.addressSpace + "'; gipam serves " +
                        std::string(kLocalAddressSpace) + " and " + std::string(kGlobalAddressSpace));
    }
    checkOptionLimits(request.options);
    const auto options = PoolOptions::parse(request.options);

    std::unique_lock lock(mutex_);
    std::optional<ip::Prefix> subPool;
    std::string copyOf;
    ip::Prefix prefix = [&] {
        if (request.pool.empty()) {
            if (!request.subPool.empty()) {
                throw IpamError("ip-range " + request.subPool + " needs a subnet (--subnet) to lie in");
            }
            const ip::Family family = request.v6 ? ip::Family::V6 : ip::Family::V4;
            return pickBlock(family, options.blockLength(family));
        }
        // The subnet decides the family: swarmkit sends V6 false also for IPv6 subnets.
        const ip::Prefix requested = parsePrefix(request.pool, "subnet");
        if (requested.length() == 0) {
            throw IpamError("subnet " + requested.toString() + " is the whole " +
                            std::string(ip::familyName(requested.family())) + " address space");
        }
        // Docker 29 sends an all-zero prefix to mean "any block of this size".
        if (requested.network().value() == 0) return pickBlock(requested.family(), requested.length());
        if (isIpv4Mapped(requested)) {
            throw IpamError("subnet " + requested.toString() +
                            " is IPv4-mapped IPv6 (::ffff:0:0/96); give IPv4 subnets in IPv4 form");
        }
        if (!request.subPool.empty()) {
            subPool = parsePrefix(request.subPool, "ip-range");
            if (!requested.contains(*subPool)) {
                throw IpamError("ip-range " + subPool->toString() + " is not inside subnet " + requested.toString());
            }
        }
        copyOf = copyTargetFor(poolIdFor(space, requested, subPool), requested);
        checkStaticPool(requested);
        return requested;
    }();

    const std::string id = poolIdFor(space, prefix, subPool);
    insertPool(Pool{id, alloc::AddressAllocator(prefix, subPool, orderFor(options)), request.options, copyOf, {},
                    lastChange_ + 1, lastChange_ + 1, 0, 0});
    commit(lock, [this, id] { erasePool(id); });
    log::info("RequestPool " + id + " granted " + prefix.toString() +
              (copyOf.empty() ? "" : " (this node's copy of swarm pool " + copyOf + ")"));
    return {id, prefix};
}

void IpamService::releasePool(const std::string& poolId) {
    std::unique_lock lock(mutex_);
    const auto held = findPool(poolId).addresses.held().count();
    dropPool(lock, poolId);
    log::info("ReleasePool " + poolId + " freed with " + ip::toDecimal(held) + " addresses still held");
}

AddressGrant IpamService::requestAddress(const AddressRequest& request) {
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(request.poolId);
    auto& addresses = pool.addresses;
    const ip::U128 cursor = addresses.cursor();
    std::optional<ip::Address> granted;
    if (request.address.empty()) {
        granted = isGatewayRequest(request.options) ? addresses.allocateLowestInPool() : addresses.allocate();
        if (!granted) {
            const auto& range = addresses.range();
            throw IpamError("no free " + std::string(ip::familyName(addresses.pool().family())) + " address in " +
                            (range ? "ip-range " + range->toString() + " of " : std::string()) + "pool " + pool.id, Refusal::Exhausted);
        }
    } else {
        const ip::Address address = parseAddress(request.address, "requested address");
        const auto result = addresses.reserve(address);
        if (result != ReserveResult::Reserved) {
            throw IpamError(describeReserveFailure(result, address, addresses.pool(), pool.id),
                            result == ReserveResult::AlreadyHeld ? Refusal::AlreadyAllocated : Refusal::Invalid);
        }
        granted = address;
    }
    const std::string id = pool.id;
    const AddressGrant grant{*granted, addresses.pool().length()};
    // Undo by ID: a later change being undone first may have replaced the Pool object.
    commit(lock, [this, id, address = *granted, cursor] {
        auto& undone = pools_.at(id).addresses;
        undone.release(address);
        undone.setCursor(cursor);
    });
    const auto endpoint = request.options.find(std::string(kEndpointNameOption));
    log::info("RequestAddress " + id + " granted " + grant.address.toString() +
              (endpoint == request.options.end() ? "" : " to " + endpoint->second));
    return grant;
}

void IpamService::releaseAddress(const std::string& poolId, const std::string& address) {
    std::unique_lock lock(mutex_);
    Pool& pool = findPool(poolId);
    const ip::Address parsed = parseAddress(address, "released address");
    pool.lastRelease = lastChange_ + 1;  // kept by an undo too: gc only needs it not to be older
    if (!freeAddress(lock, pool, parsed)) {
        lock.unlock();
        log::debug("ReleaseAddress " + poolId + " " + address + " was not held");
        return;
    }
    log::info("ReleaseAddress " + poolId + " freed " + parsed.toString());
}

IpamService::Observation IpamService::observe() {
    std::lock_guard lock(mutex_);
    return {snapshotLocked(), lastChange_, ++looks_};
}

bool IpamService::releaseLeaked(const std::string& poolId, const std::string& address, std::uint64_t observedChange,
                                std::uint64_t look) {
    std::unique_lock lock(mutex_);
    const auto it = pools_.find(poolId);
    if (it == pools_.end()) return false;
    Pool& pool = it->second;
    // Releases by this gc run do not count against its own later ones: each address it releases
    // was leaked at both its looks. Releases by anyone else, another gc run included, do.
    const std::uint64_t lastForeign =
        pool.gcRun == look ? pool.lastRelease : std::max(pool.lastRelease, pool.lastGcRelease);
    if (pool.created > observedChange || lastForeign > observedChange) return false;
    if (address.empty()) {
        dropPool(lock, poolId);
        log::warning("gc released leaked pool " + poolId + " (Docker has no network on it)");
        return true;
    }
    const ip::Address parsed = parseAddress(address, "released address");
    if (!pool.addresses.isHeld(parsed)) return false;
    if (pool.gcRun != look) {
        pool.lastRelease = std::max(pool.lastRelease, pool.lastGcRelease);
        pool.gcRun = look;
    }
    pool.lastGcRelease = lastChange_ + 1;
    freeAddress(lock, pool, parsed);
    log::warning("gc released leaked address " + parsed.toString() + " of pool " + poolId +
                 " (no container of Docker's uses it)");
    return true;
}

std::chrono::nanoseconds IpamService::writeInFlightFor() const {
    const std::int64_t started = writeStarted_;
    if (started == 0) return {};
    return std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(started);
}

store::Leases IpamService::snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshotLocked();
}

store::Leases IpamService::snapshotLocked() const {
    store::Leases leases{v4_, v6_, {}};
    leases.pools.reserve(pools_.size());
    for (const auto& [id, pool] : pools_) {
        const auto& addresses = pool.addresses;
        store::PoolRecord record{id, addresses.pool(), addresses.range(), pool.options, {}, {}};
        if (addresses.order() == alloc::AddressAllocator::Order::RoundRobin && addresses.cursor() != 0 &&
            addresses.cursor() <= addresses.pool().lastOffset()) {
            record.next = addresses.pool().at(addresses.cursor());
        }
        record.addresses.reserve(addresses.held().runs().size());
        for (const auto& [first, last] : addresses.held().runs()) {
            record.addresses.push_back({addresses.pool().at(first), addresses.pool().at(last)});
        }
        leases.pools.push_back(std::move(record));
    }
    return leases;
}

}  // namespace gipam::ipam
