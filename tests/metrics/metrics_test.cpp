// The exposition's numbers: cumulative buckets, counters over fixed labels.
#include "metrics/metrics.h"

#include <gtest/gtest.h>


namespace gipam::metrics {
namespace {

TEST(HistogramTest, BucketsAreCumulativeWithSumAndCount) {
    Histogram<8> histogram({1, 2, 4, 8, 16, 32, 64, 128});
    for (const double value : {1.0, 3.0, 3.0, 200.0}) histogram.observe(value);
    std::string out;
    histogram.appendTo(out, "x", "endpoint=\"a\"");
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"1\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"2\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"4\"} 3\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"128\"} 3\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_bucket{endpoint=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_count{endpoint=\"a\"} 4\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_sum{endpoint=\"a\"} 207\n"), std::string::npos) << out;
}

TEST(CounterTableTest, ListsEveryCombinationOfItsLabels) {
    CounterTable table("x_total", "Things.", "kind", {"a", "b\"c"}, "result", {"ok", "refused"});
    table.add(1, 1);
    table.add(1, 1);
    table.add(5, 0);  // not a value of its: not counted
    std::string out;
    table.appendTo(out);
    EXPECT_NE(out.find("# TYPE x_total counter\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_total{kind=\"a\",result=\"ok\"} 0\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x_total{kind=\"b\\\"c\",result=\"refused\"} 2\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace gipam::metrics
