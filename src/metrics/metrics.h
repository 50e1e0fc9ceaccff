// Counters and histograms for Prometheus, kept in atomics: recording costs no lock and no I/O, so
// any layer may record while it holds its own lock.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gipam::metrics {

/// A cumulative histogram over fixed upper bounds (Prometheus "le" buckets, +Inf implied).
template <std::size_t N>
class Histogram {
public:
    explicit constexpr Histogram(std::array<double, N> bounds) : bounds_(bounds) {}

    void observe(double value) {
        for (std::size_t i = 0; i < N; ++i) {
            if (value <= bounds_[i]) {
                buckets_[i].fetch_add(1, std::memory_order_relaxed);
                break;
            }
        }
        count_.fetch_add(1, std::memory_order_relaxed);
        // A double sum kept as integer nanounits: atomic without a compare-and-swap loop.
        sumNanos_.fetch_add(static_cast<std::uint64_t>(value * 1e9), std::memory_order_relaxed);
    }

    /// Appends the _bucket, _sum and _count lines of `name` with `labels` ("" or `key="value"`).
    void appendTo(std::string& out, std::string_view name, std::string_view labels) const;

private:
    std::array<double, N> bounds_;
    std::array<std::atomic<std::uint64_t>, N> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sumNanos_{0};
};

/// What the plugin API was asked, by endpoint.
enum class Endpoint { Activate, Capabilities, AddressSpaces, RequestPool, ReleasePool, RequestAddress, ReleaseAddress, Other };
inline constexpr std::size_t kEndpoints = 8;
std::string_view endpointName(Endpoint endpoint);
/// "/IpamDriver.RequestPool" -> RequestPool; anything unknown is Other.
Endpoint endpointOf(std::string_view path);

/// How a request ended, by HTTP status: 200 ok, 500 refused, 400/413 bad_request, 403 forbidden,
/// 404/405 not_found.
inline constexpr std::size_t kResults = 5;
std::size_t resultOf(int status);

/// Latency buckets, seconds: a durable write takes about a millisecond on a disk.
inline constexpr std::array<double, 12> kSecondsBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
/// Changes per durable write: the group commit at work.
inline constexpr std::array<double, 8> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128};

/// Conflicts one request met before it was answered (with etcd).
inline constexpr std::array<double, 6> kConflictBuckets = {0, 1, 2, 3, 5, 8};

/// gipam's instruments. `refusals` is indexed by the IPAM layer's refusal reasons.
struct Instruments {
    std::atomic<std::uint64_t> requests[kEndpoints][kResults] = {};
    Histogram<kSecondsBuckets.size()> requestSeconds[kEndpoints] = {
        Histogram<12>(kSecondsBuckets), Histogram<12>(kSecondsBuckets), Histogram<12>(kSecondsBuckets),
        Histogram<12>(kSecondsBuckets), Histogram<12>(kSecondsBuckets), Histogram<12>(kSecondsBuckets),
        Histogram<12>(kSecondsBuckets), Histogram<12>(kSecondsBuckets)};
    Histogram<kSecondsBuckets.size()> durableWriteSeconds{kSecondsBuckets};
    Histogram<kBatchBuckets.size()> changesPerWrite{kBatchBuckets};
    std::atomic<std::uint64_t> failedWrites{0};
    std::atomic<std::uint64_t> storeConflicts{0};  // changes another host's got in the way of
    Histogram<kConflictBuckets.size()> conflictsPerRequest{kConflictBuckets};  // with etcd: tries - 1
    static constexpr std::size_t kRefusalKinds = 16;
    std::atomic<std::uint64_t> refusals[kRefusalKinds] = {};

    void countRequest(Endpoint endpoint, int status, double seconds);
};

/// The process's instruments.
Instruments& instruments();

/// The request, write and build lines of the exposition; `refusalNames` names the refusal kinds
/// in use (index = kind), `version` goes into gipam_build_info.
std::string exposition(const std::string_view* refusalNames, std::size_t refusalKinds, std::string_view version);

/// A sample value as Prometheus reads it: the shortest text of the double.
std::string formatNumber(double value);

/// `value` escaped for a label value (backslash, quote, newline).
std::string labelValue(std::string_view value);

}  // namespace gipam::metrics
