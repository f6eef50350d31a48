#include "bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fg::bench {

namespace {
constexpr uint64_t kSubBuckets = uint64_t{1} << LatencyHistogram::kSubBucketBits;  // 128
}

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

// Values below 256 have a bucket each. Above, a value with its highest bit at
// position e (>= 8) keeps its top 8 bits m (128..255): 128 buckets per power of two.
size_t LatencyHistogram::bucket_index(uint64_t value) {
  if (value < kLinearLimit) return static_cast<size_t>(value);
  const int e = std::bit_width(value) - 1;
  const int shift = e - kSubBucketBits;
  const uint64_t m = value >> shift;  // in [128, 256)
  return static_cast<size_t>(kLinearLimit + static_cast<uint64_t>(e - kSubBucketBits - 1) * kSubBuckets +
                             (m - kSubBuckets));
}

uint64_t LatencyHistogram::bucket_lowest(size_t index) {
  if (index < kLinearLimit) return index;
  const uint64_t rel = index - kLinearLimit;
  const int e = static_cast<int>(rel / kSubBuckets) + kSubBucketBits + 1;
  const uint64_t m = kSubBuckets + rel % kSubBuckets;
  return m << (e - kSubBucketBits);
}

uint64_t LatencyHistogram::bucket_highest(size_t index) {
  if (index < kLinearLimit) return index;
  const uint64_t rel = index - kLinearLimit;
  const int e = static_cast<int>(rel / kSubBuckets) + kSubBucketBits + 1;
  const int shift = e - kSubBucketBits;
  return bucket_lowest(index) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record_n(uint64_t value, uint64_t count) {
  if (count == 0) return;
  counts_[bucket_index(value)] += count;
  count_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  if (percent >= 100.0) return max_;
  percent = std::max(percent, 0.0);
  // The rank of the sample at this percentile, 1-based, at least the first sample.
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t lo = bucket_lowest(i);
      const uint64_t mid = lo + (bucket_highest(i) - lo) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace fg::bench
