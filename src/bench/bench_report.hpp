// The results of a bench run and their two renderings: a table for people and
// one JSON object per line for scripts (bench/compare.sh). Pure formatting.
#pragma once

#include <cstdint>
#include <string>

namespace fg::bench {

struct LoadResult {
  // What was asked.
  std::string broker;  // host:port
  bool tls = false;
  int protocol = 311;
  int qos = 0;
  unsigned publishers = 0;
  unsigned subscribers = 0;
  unsigned payload = 0;
  double rate_per_publisher = 0;  // 0: as fast as possible
  double warmup_seconds = 0;
  double duration_seconds = 0;

  // Measured inside the window (after warm-up).
  uint64_t sent_in_window = 0;
  double sent_per_second = 0;
  uint64_t delivered_in_window = 0;
  double delivered_per_second = 0;
  uint64_t latency_count = 0;
  double latency_p50_us = 0;
  double latency_p99_us = 0;
  double latency_p999_us = 0;
  double latency_max_us = 0;
  double latency_mean_us = 0;

  // Whole run, after draining.
  uint64_t sent = 0;        // PUBLISH packets written by all publishers
  uint64_t acked = 0;       // QoS 1/2 flows completed
  uint64_t rejected = 0;    // QoS 1/2 flows the broker refused
  uint64_t expected = 0;    // deliveries the subscribers should have seen
  uint64_t received = 0;    // unique deliveries they saw
  uint64_t lost = 0;        // expected - received, when positive
  uint64_t duplicates = 0;
  uint64_t foreign = 0;     // messages not from this run
  bool drained = true;      // every expected delivery arrived before the drain deadline
};

struct ConnectionResult {
  std::string broker;
  bool tls = false;
  int protocol = 311;
  unsigned requested = 0;
  unsigned connected = 0;
  double connect_seconds = 0;
  double connect_rate = 0;  // connections/s over connect_seconds
  double held_seconds = 0;
  unsigned dropped = 0;     // closed by the broker while held
  std::string first_error;
};

std::string to_json(const LoadResult& r);
std::string to_json(const ConnectionResult& r);
std::string to_table(const LoadResult& r);
std::string to_table(const ConnectionResult& r);

}  // namespace fg::bench
