#include "alloc/offset_set.h"

#include <gtest/gtest.h>

namespace gipam::alloc {
namespace {

using ip::U128;
using Runs = OffsetSet::Runs;

constexpr U128 kMax = ~U128{0};

TEST(OffsetSetTest, StartsEmpty) {
    const OffsetSet set;
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.count(), U128{0});
    EXPECT_FALSE(set.contains(0));
    EXPECT_EQ(set.firstFree(0, 10), U128{0});
}

TEST(OffsetSetTest, InsertHoldsAnOffsetOnce) {
    OffsetSet set;
    EXPECT_TRUE(set.insert(5));
    EXPECT_FALSE(set.insert(5));
    EXPECT_TRUE(set.contains(5));
    EXPECT_FALSE(set.contains(4));
    EXPECT_FALSE(set.contains(6));
    EXPECT_EQ(set.count(), U128{1});
}

TEST(OffsetSetTest, InsertMergesWithBothNeighbours) {
    OffsetSet set;
    set.insert(1);
    set.insert(3);
    EXPECT_EQ(set.runs(), (Runs{{1, 1}, {3, 3}}));
    set.insert(2);
    EXPECT_EQ(set.runs(), (Runs{{1, 3}}));
    set.insert(4);
    set.insert(0);
    EXPECT_EQ(set.runs(), (Runs{{0, 4}}));
    EXPECT_EQ(set.count(), U128{5});
}

TEST(OffsetSetTest, EraseSplitsARun) {
    OffsetSet set;
    ASSERT_TRUE(set.insertRun(1, 10));
    EXPECT_TRUE(set.erase(5));
    EXPECT_EQ(set.runs(), (Runs{{1, 4}, {6, 10}}));
    EXPECT_EQ(set.count(), U128{9});
    EXPECT_FALSE(set.contains(5));
    EXPECT_TRUE(set.contains(4));
    EXPECT_TRUE(set.contains(6));
}

TEST(OffsetSetTest, EraseShrinksARunAtEitherEnd) {
    OffsetSet set;
    set.insertRun(1, 10);
    EXPECT_TRUE(set.erase(1));
    EXPECT_TRUE(set.erase(10));
    EXPECT_EQ(set.runs(), (Runs{{2, 9}}));
    EXPECT_EQ(set.count(), U128{8});
}

TEST(OffsetSetTest, EraseOfTheOnlyOffsetEmptiesTheSet) {
    OffsetSet set;
    set.insert(7);
    EXPECT_TRUE(set.erase(7));
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.count(), U128{0});
}

TEST(OffsetSetTest, EraseOfAnOffsetNotHeldReturnsFalse) {
    OffsetSet set;
    EXPECT_FALSE(set.erase(3));
    set.insertRun(5, 7);
    EXPECT_FALSE(set.erase(4));
    EXPECT_FALSE(set.erase(8));
    EXPECT_EQ(set.runs(), (Runs{{5, 7}}));
    EXPECT_EQ(set.count(), U128{3});
}

TEST(OffsetSetTest, EraseThenInsertRestoresOneRun) {
    OffsetSet set;
    set.insertRun(0, 99);
    set.erase(50);
    set.insert(50);
    EXPECT_EQ(set.runs(), (Runs{{0, 99}}));
    EXPECT_EQ(set.count(), U128{100});
}

TEST(OffsetSetTest, FirstFreeSkipsTheRunAtTheStart) {
    OffsetSet set;
    set.insertRun(0, 9);
    EXPECT_EQ(set.firstFree(0, 100), U128{10});
    EXPECT_EQ(set.firstFree(4, 100), U128{10});
    EXPECT_EQ(set.firstFree(10, 100), U128{10});
    EXPECT_EQ(set.firstFree(12, 20), U128{12});
}

TEST(OffsetSetTest, FirstFreeIsNulloptWhenTheRangeIsHeld) {
    OffsetSet set;
    set.insertRun(0, 9);
    EXPECT_EQ(set.firstFree(0, 9), std::nullopt);
    EXPECT_EQ(set.firstFree(3, 5), std::nullopt);
    EXPECT_EQ(set.firstFree(9, 9), std::nullopt);
    EXPECT_EQ(set.firstFree(9, 10), U128{10});
}

TEST(OffsetSetTest, FirstFreeOfAnEmptyRangeIsNullopt) {
    const OffsetSet set;
    EXPECT_EQ(set.firstFree(5, 4), std::nullopt);
    EXPECT_EQ(set.firstFree(5, 5), U128{5});
}

TEST(OffsetSetTest, FirstFreeFindsTheGapBetweenRuns) {
    OffsetSet set;
    set.insertRun(1, 3);
    set.insertRun(5, 9);
    EXPECT_EQ(set.firstFree(1, 9), U128{4});
    EXPECT_EQ(set.firstFree(5, 20), U128{10});
    EXPECT_EQ(set.firstFree(0, 20), U128{0});
}

TEST(OffsetSetTest, InsertRunRejectsAnyOverlapAndChangesNothing) {
    OffsetSet set;
    ASSERT_TRUE(set.insertRun(10, 20));
    EXPECT_FALSE(set.insertRun(5, 10));   // touches the first offset
    EXPECT_FALSE(set.insertRun(20, 25));  // touches the last offset
    EXPECT_FALSE(set.insertRun(12, 13));  // inside
    EXPECT_FALSE(set.insertRun(5, 25));   // around
    EXPECT_FALSE(set.insertRun(15, 15));
    EXPECT_EQ(set.runs(), (Runs{{10, 20}}));
    EXPECT_EQ(set.count(), U128{11});
}

TEST(OffsetSetTest, InsertRunRejectsARunAroundSeveralRuns) {
    OffsetSet set;
    set.insertRun(10, 12);
    set.insertRun(20, 22);
    EXPECT_FALSE(set.insertRun(0, 30));
    EXPECT_FALSE(set.insertRun(13, 20));
    EXPECT_EQ(set.runs(), (Runs{{10, 12}, {20, 22}}));
    EXPECT_EQ(set.count(), U128{6});
}

TEST(OffsetSetTest, InsertRunMergesWithAdjacentRuns) {
    OffsetSet set;
    set.insertRun(1, 3);
    set.insertRun(7, 9);
    EXPECT_TRUE(set.insertRun(4, 6));
    EXPECT_EQ(set.runs(), (Runs{{1, 9}}));
    EXPECT_TRUE(set.insertRun(10, 12));
    EXPECT_TRUE(set.insertRun(0, 0));
    EXPECT_EQ(set.runs(), (Runs{{0, 12}}));
    EXPECT_EQ(set.count(), U128{13});
}

TEST(OffsetSetTest, InsertRunKeepsSeparateRunsSeparate) {
    OffsetSet set;
    set.insertRun(1, 3);
    set.insertRun(5, 6);
    set.insertRun(100, 200);
    EXPECT_EQ(set.runs(), (Runs{{1, 3}, {5, 6}, {100, 200}}));
    EXPECT_EQ(set.count(), U128{3 + 2 + 101});
}

TEST(OffsetSetTest, CountsRunsWiderThanSixtyFourBits) {
    OffsetSet set;
    ASSERT_TRUE(set.insertRun(0, U128{1} << 64));
    EXPECT_EQ(set.count(), (U128{1} << 64) + 1);
    EXPECT_EQ(set.firstFree(0, kMax), (U128{1} << 64) + 1);
    EXPECT_TRUE(set.erase(U128{1} << 63));
    EXPECT_EQ(set.count(), U128{1} << 64);
    EXPECT_EQ(set.firstFree(0, kMax), U128{1} << 63);
}

TEST(OffsetSetTest, HandlesTheLargestOffsetWithoutOverflow) {
    OffsetSet set;
    EXPECT_TRUE(set.insert(kMax));
    EXPECT_TRUE(set.contains(kMax));
    EXPECT_FALSE(set.contains(0));
    EXPECT_EQ(set.firstFree(kMax, kMax), std::nullopt);
    EXPECT_EQ(set.firstFree(kMax - 1, kMax), kMax - 1);
    EXPECT_TRUE(set.insert(kMax - 1));
    EXPECT_EQ(set.runs(), (Runs{{kMax - 1, kMax}}));
    EXPECT_FALSE(set.insertRun(kMax - 5, kMax));
    EXPECT_TRUE(set.insertRun(kMax - 5, kMax - 2));
    EXPECT_EQ(set.runs(), (Runs{{kMax - 5, kMax}}));
    EXPECT_TRUE(set.erase(kMax));
    EXPECT_EQ(set.runs(), (Runs{{kMax - 5, kMax - 1}}));
}

TEST(OffsetSetTest, ManySparseOffsetsStayOneRunEach) {
    OffsetSet set;
    for (U128 i = 0; i < 10000; ++i) ASSERT_TRUE(set.insert(i * 2));
    EXPECT_EQ(set.runs().size(), 10000u);
    EXPECT_EQ(set.count(), U128{10000});
    for (U128 i = 0; i < 10000; ++i) ASSERT_TRUE(set.insert(i * 2 + 1));
    EXPECT_EQ(set.runs(), (Runs{{0, 19999}}));
}

TEST(OffsetSetTest, UniteFoldsEveryRunItTouchesOrAdjoinsAndCountsEachOffsetOnce) {
    OffsetSet set;
    ASSERT_TRUE(set.insertRun(10, 12));
    ASSERT_TRUE(set.insertRun(20, 25));
    ASSERT_TRUE(set.insert(40));
    set.unite(13, 21);  // adjoins 10-12, overlaps 20-25
    ASSERT_EQ(set.runs().size(), 2u);
    EXPECT_EQ(set.runs().begin()->first, 10u);
    EXPECT_EQ(set.runs().begin()->second, 25u);
    EXPECT_EQ(set.count(), 17u);
    set.unite(0, ~ip::U128{0});
    EXPECT_EQ(set.runs().size(), 1u);
    EXPECT_TRUE(set.anyIn(5, 5));
}

TEST(OffsetSetTest, AnyInSeesARunReachingIntoTheRangeFromBelow) {
    OffsetSet set;
    ASSERT_TRUE(set.insertRun(10, 20));
    EXPECT_TRUE(set.anyIn(15, 30));
    EXPECT_TRUE(set.anyIn(0, 10));
    EXPECT_FALSE(set.anyIn(21, 30));
    EXPECT_FALSE(set.anyIn(0, 9));
}

}  // namespace
}  // namespace gipam::alloc
