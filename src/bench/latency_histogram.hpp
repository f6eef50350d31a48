// End-to-end latency histogram of the bench tool, in the spirit of HdrHistogram:
// values are grouped by power of two and each power of two is split into 128
// linear sub-buckets, so a percentile is reported within 1/128 (< 0.8 %) of the
// recorded value at any magnitude, from nanoseconds to hours. Recording is an
// index computation and an increment into a table allocated once, so a
// subscriber can record every message without allocating.
// Not thread-safe: one histogram per subscriber, merged after the run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fg::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t count);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;
  // The value below which `percent` (0..100) of the recorded values fall, as the
  // middle of its bucket (clamped to the recorded range). 0 when empty.
  uint64_t percentile(double percent) const;

  // Exposed for tests of the bucket layout.
  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_lowest(size_t index);
  static uint64_t bucket_highest(size_t index);
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kLinearLimit = uint64_t{2} << kSubBucketBits;  // exact below 256
  static constexpr size_t kBuckets = kLinearLimit + (64 - kSubBucketBits - 1) * (size_t{1} << kSubBucketBits);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace fg::bench
