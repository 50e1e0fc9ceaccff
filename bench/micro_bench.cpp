// Micro-benchmarks of the hot path's building blocks: parsing, block and address allocation.
#include <benchmark/benchmark.h>

#include "alloc/address_allocator.h"
#include "alloc/block_allocator.h"

namespace {

using namespace gipam;

void ParsePrefixV4(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(ip::Prefix::parse("198.18.4.0/24"));
}
BENCHMARK(ParsePrefixV4);

void ParsePrefixV6(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(ip::Prefix::parse("2001:db8:100:4::/64"));
}
BENCHMARK(ParsePrefixV6);

void FormatAddressV6(benchmark::State& state) {
    const auto address = ip::Address::parse("2001:db8:100:4::1234");
    for (auto _ : state) benchmark::DoNotOptimize(address.toString());
}
BENCHMARK(FormatAddressV6);

// Allocate and release one block while `range(0)` blocks are held.
void BlockAllocateRelease(benchmark::State& state) {
    alloc::BlockAllocator blocks(ip::Prefix::parse("2001:db8::/32"));
    for (long i = 0; i < state.range(0); ++i) blocks.allocate(64);
    for (auto _ : state) {
        const auto block = blocks.allocate(64);
        blocks.release(*block);
    }
}
BENCHMARK(BlockAllocateRelease)->Arg(10)->Arg(1000)->Arg(100000);

// Allocate and release one address while `range(0)` are held, every third released (fragmented).
void AddressAllocateRelease(benchmark::State& state) {
    alloc::AddressAllocator addresses(ip::Prefix::parse("2001:db8::/64"), std::nullopt,
                                      alloc::AddressAllocator::Order::LowestFirst);
    for (long i = 0; i < state.range(0); ++i) addresses.allocate();
    for (long i = 3; i < state.range(0); i += 3) addresses.release(addresses.pool().at(i));
    for (auto _ : state) {
        const auto address = addresses.allocate();
        addresses.release(*address);
    }
}
BENCHMARK(AddressAllocateRelease)->Arg(100)->Arg(10000)->Arg(100000);

}  // namespace
