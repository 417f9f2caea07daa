#include "obs/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <thread>

namespace yg::obs {
namespace {

using namespace std::chrono_literals;

// Parses "name{labels} value" sample lines into a map (HELP/TYPE lines skipped).
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override { metrics().reset_for_test(); }
  void TearDown() override { metrics().reset_for_test(); }
};

TEST_F(MetricsTest, HistogramBucketsAreCumulativeInTheText) {
  Registry& r = metrics();
  const auto slot = r.bucket_slot("photos");
  auto& w = r.add_shard();
  w.buckets[slot].duration.observe(300us);  // <= 0.0005
  w.buckets[slot].duration.observe(2ms);    // <= 0.0025
  w.buckets[slot].duration.observe(2s);     // <= 2.5
  w.buckets[slot].duration.observe(5min);   // +Inf
  auto s = samples(r.render({}));
  const std::string n = "yatagarasu_request_duration_seconds";
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"0.0005\"}"], "1");
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"0.001\"}"], "1");
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"0.0025\"}"], "2");
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"2.5\"}"], "3");
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"60\"}"], "3");
  EXPECT_EQ(s[n + "_bucket{bucket=\"photos\",le=\"+Inf\"}"], "4");
  EXPECT_EQ(s[n + "_count{bucket=\"photos\"}"], "4");
  EXPECT_EQ(s[n + "_sum{bucket=\"photos\"}"], "302.0023");
}

TEST_F(MetricsTest, ShardsAreSummedAtScrape) {
  Registry& r = metrics();
  const auto slot = r.bucket_slot("b");
  auto& w1 = r.add_shard();
  auto& w2 = r.add_shard();
  const auto get = static_cast<std::size_t>(Method::Get);
  w1.buckets[slot].requests[get][status_slot(200)].add(3);
  w2.buckets[slot].requests[get][status_slot(200)].add(4);
  w2.buckets[slot].requests[get][status_slot(404)].add();
  w1.buckets[slot].bytes_sent.add(10);
  w2.buckets[slot].bytes_sent.add(5);
  auto s = samples(r.render({}));
  EXPECT_EQ(s["yatagarasu_requests_total{bucket=\"b\",method=\"GET\",status=\"200\"}"], "7");
  EXPECT_EQ(s["yatagarasu_requests_total{bucket=\"b\",method=\"GET\",status=\"404\"}"], "1");
  EXPECT_EQ(s.count("yatagarasu_requests_total{bucket=\"b\",method=\"HEAD\",status=\"200\"}"), 0u)
      << "series never incremented are not exported";
  EXPECT_EQ(s["yatagarasu_response_bytes_total{bucket=\"b\"}"], "15");
}

// Concurrent writers on their own shards and a scraper: totals are exact once writers stop
// (run under TSan/ASan in CI; no lock on the write path).
TEST_F(MetricsTest, ConcurrentShardWritersAndScraper) {
  Registry& r = metrics();
  const auto slot = r.bucket_slot("b");
  constexpr int kThreads = 4, kPer = 20000;
  std::vector<WorkerMetrics*> shards;
  for (int i = 0; i < kThreads; ++i) {
    shards.push_back(&r.add_shard());
  }
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) {
      (void)r.totals();
    }
  });
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      for (int k = 0; k < kPer; ++k) {
        shards[i]->buckets[slot].requests[0][0].add();
        shards[i]->buckets[slot].duration.observe(1ms);
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  stop = true;
  scraper.join();
  const auto t = r.totals();
  EXPECT_EQ(t.buckets[slot].requests[0][0], uint64_t{kThreads} * kPer);
  EXPECT_EQ(t.buckets[slot].duration.count, uint64_t{kThreads} * kPer);
}

TEST_F(MetricsTest, SlotsAreStableAndBounded) {
  Registry& r = metrics();
  EXPECT_EQ(r.bucket_slot("a"), 1);
  EXPECT_EQ(r.bucket_slot("b"), 2);
  EXPECT_EQ(r.bucket_slot("a"), 1) << "same name, same slot (a reload keeps the series)";
  for (int i = 0; i < 200; ++i) {
    EXPECT_LT(r.bucket_slot("x" + std::to_string(i)), kBucketSlots);
  }
  EXPECT_EQ(r.bucket_slot("one-more"), kBucketSlots - 1);
  const auto t = r.totals();
  EXPECT_EQ(t.buckets.size(), kBucketSlots);
  EXPECT_EQ(t.buckets.back().name, "_other");
  EXPECT_EQ(t.buckets.front().name, "_none");
  EXPECT_EQ(r.replica_slot("a", "primary"), 0);
  EXPECT_EQ(r.replica_slot("b", "primary"), 1);
  EXPECT_EQ(r.replica_slot("a", "primary"), 0);
}

TEST_F(MetricsTest, StatusAndMethodTables) {
  EXPECT_EQ(status_label(status_slot(200)), "200");
  EXPECT_EQ(status_label(status_slot(416)), "416");
  EXPECT_EQ(status_label(status_slot(418)), "other");
  EXPECT_EQ(status_label(status_slot(0)), "other");
  EXPECT_EQ(status_label(status_slot(70000)), "other");
  EXPECT_EQ(method_of("GET"), Method::Get);
  EXPECT_EQ(method_of("PROPFIND"), Method::Other);
  EXPECT_EQ(to_string(method_of("")), "other");
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Registry& r = metrics();
  r.bucket_slot("we\"ird");
  const auto text = r.render({});
  EXPECT_NE(text.find("bucket=\"we\\\"ird\""), std::string::npos);
}

TEST_F(MetricsTest, ReloadsAndGeneration) {
  Registry& r = metrics();
  r.reload_result(true);
  r.reload_result(false);
  r.reload_result(true);
  auto s = samples(r.render({}));
  EXPECT_EQ(s["yatagarasu_config_reloads_total{result=\"success\"}"], "2");
  EXPECT_EQ(s["yatagarasu_config_reloads_total{result=\"failure\"}"], "1");
  EXPECT_EQ(s["yatagarasu_config_generation"], "3");
}

TEST_F(MetricsTest, ExternalFamiliesAndProcess) {
  auto s =
      samples(metrics().render({{"yatagarasu_active_connections", "Open.", "gauge", {{"", 3}}}}));
  EXPECT_EQ(s["yatagarasu_active_connections"], "3");
  EXPECT_GT(std::stoull(s["yatagarasu_process_resident_memory_bytes"]), 0u);
  EXPECT_GT(std::stoull(s["yatagarasu_process_open_fds"]), 2u);
}

TEST_F(MetricsTest, RecentErrorsAreBoundedNewestFirst) {
  Registry& r = metrics();
  for (int i = 0; i < 80; ++i) {
    r.record_error(RecentError{i, "id" + std::to_string(i), "b", 502, "x"});
  }
  auto v = r.recent_errors();
  ASSERT_EQ(v.size(), 50u);
  EXPECT_EQ(v.front().request_id, "id79");
  EXPECT_EQ(v.back().request_id, "id30");
}

}  // namespace
}  // namespace yg::obs
