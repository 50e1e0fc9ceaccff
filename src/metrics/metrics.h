// Counters and histograms for Prometheus, kept in atomics: recording costs no lock and no I/O, so
// any layer may record while it holds its own lock. This module names nothing: each layer owns
// its instruments and their names (store_metrics.h, ipam_metrics.h, server's), and the metrics
// page puts them together.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gipam::metrics {

/// "# HELP name help" and "# TYPE name type" lines.
void appendHelp(std::string& out, std::string_view name, std::string_view type, std::string_view help);

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

/// Latency buckets, seconds: a durable write takes about a millisecond on a disk.
inline constexpr std::array<double, 12> kSecondsBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
struct SecondsHistogram : Histogram<kSecondsBuckets.size()> {
    SecondsHistogram() : Histogram(kSecondsBuckets) {}
};

/// Counters over every combination of one or two labels whose values the owner fixes at
/// construction (no label grows with use).
class CounterTable {
public:
    CounterTable(std::string name, std::string help, std::string label, std::vector<std::string> values,
                 std::string secondLabel = {}, std::vector<std::string> secondValues = {""});
    void add(std::size_t value, std::size_t secondValue = 0);
    std::uint64_t at(std::size_t value, std::size_t secondValue = 0) const;
    void appendTo(std::string& out) const;

private:
    std::string name_, help_, label_, secondLabel_;
    std::vector<std::string> values_, secondValues_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
};

/// A sample value as Prometheus reads it: the shortest text of the double.
std::string formatNumber(double value);

/// `value` escaped for a label value (backslash, quote, newline).
std::string labelValue(std::string_view value);

}  // namespace gipam::metrics
