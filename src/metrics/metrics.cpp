#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>

namespace gipam::metrics {

void appendHelp(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string formatNumber(double value) {
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return error == std::errc() ? std::string(buffer, end) : "NaN";
}

template <std::size_t N>
void Histogram<N>::appendTo(std::string& out, std::string_view name, std::string_view labels) const {
    const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < N; ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        out += std::string(name) + "_bucket{" + prefix + "le=\"" + formatNumber(bounds_[i]) + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    // Read count last: it was bumped after the bucket, so +Inf never falls below a bucket.
    const auto count = std::max(cumulative, count_.load(std::memory_order_relaxed));
    const std::string braces = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
    out += std::string(name) + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(count) + "\n";
    out += std::string(name) + "_sum" + braces + " " +
           formatNumber(static_cast<double>(sumNanos_.load(std::memory_order_relaxed)) / 1e9) + "\n";
    out += std::string(name) + "_count" + braces + " " + std::to_string(count) + "\n";
}

CounterTable::CounterTable(std::string name, std::string help, std::string label, std::vector<std::string> values,
                           std::string secondLabel, std::vector<std::string> secondValues)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_(std::move(label)),
      secondLabel_(std::move(secondLabel)),
      values_(std::move(values)),
      secondValues_(std::move(secondValues)),
      counts_(new std::atomic<std::uint64_t>[values_.size() * secondValues_.size()]()) {}

void CounterTable::add(std::size_t value, std::size_t secondValue) {
    if (value < values_.size() && secondValue < secondValues_.size()) {
        counts_[value * secondValues_.size() + secondValue].fetch_add(1, std::memory_order_relaxed);
    }
}

std::uint64_t CounterTable::at(std::size_t value, std::size_t secondValue) const {
    return counts_[value * secondValues_.size() + secondValue].load(std::memory_order_relaxed);
}

void CounterTable::appendTo(std::string& out) const {
    appendHelp(out, name_, "counter", help_);
    for (std::size_t i = 0; i < values_.size(); ++i) {
        for (std::size_t j = 0; j < secondValues_.size(); ++j) {
            out += name_ + "{" + label_ + "=\"" + labelValue(values_[i]) + "\"" +
                   (secondLabel_.empty() ? std::string() : "," + secondLabel_ + "=\"" + labelValue(secondValues_[j]) + "\"") +
                   "} " + std::to_string(at(i, j)) + "\n";
        }
    }
}

std::string labelValue(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

template class Histogram<kSecondsBuckets.size()>;
template class Histogram<8>;
template class Histogram<6>;

}  // namespace gipam::metrics
