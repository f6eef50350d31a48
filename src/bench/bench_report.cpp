#include "bench/bench_report.hpp"

#include <fmt/format.h>

namespace fg::bench {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

const char* protocol_name(int protocol) { return protocol == 5 ? "5.0" : "3.1.1"; }

std::string rate_text(double rate) { return rate > 0 ? fmt::format("{:.0f} msg/s", rate) : "max"; }

}  // namespace

std::string to_json(const LoadResult& r) {
  return fmt::format(
      "{{\"mode\":\"load\",\"broker\":{},\"tls\":{},\"protocol\":\"{}\",\"qos\":{},\"publishers\":{},"
      "\"subscribers\":{},\"payload\":{},\"rate_per_publisher\":{},\"warmup_s\":{},\"duration_s\":{},"
      "\"sent_in_window\":{},\"sent_per_s\":{:.1f},\"delivered_in_window\":{},\"delivered_per_s\":{:.1f},"
      "\"latency_us\":{{\"count\":{},\"p50\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},\"max\":{:.1f},\"mean\":{:.1f}}},"
      "\"sent\":{},\"acked\":{},\"rejected\":{},\"expected\":{},\"received\":{},\"lost\":{},"
      "\"duplicates\":{},\"foreign\":{},\"drained\":{}}}",
      json_string(r.broker), r.tls, protocol_name(r.protocol), r.qos, r.publishers, r.subscribers, r.payload,
      r.rate_per_publisher, r.warmup_seconds, r.duration_seconds, r.sent_in_window, r.sent_per_second,
      r.delivered_in_window, r.delivered_per_second, r.latency_count, r.latency_p50_us, r.latency_p99_us,
      r.latency_p999_us, r.latency_max_us, r.latency_mean_us, r.sent, r.acked, r.rejected, r.expected,
      r.received, r.lost, r.duplicates, r.foreign, r.drained);
}

std::string to_json(const ConnectionResult& r) {
  return fmt::format(
      "{{\"mode\":\"connections\",\"broker\":{},\"tls\":{},\"protocol\":\"{}\",\"requested\":{},"
      "\"connected\":{},\"connect_s\":{:.3f},\"connect_per_s\":{:.1f},\"held_s\":{:.1f},\"dropped\":{},"
      "\"first_error\":{}}}",
      json_string(r.broker), r.tls, protocol_name(r.protocol), r.requested, r.connected, r.connect_seconds,
      r.connect_rate, r.held_seconds, r.dropped, json_string(r.first_error));
}

std::string to_table(const LoadResult& r) {
  std::string out;
  out += fmt::format("broker        {} ({}, MQTT {})\n", r.broker, r.tls ? "TLS" : "TCP", protocol_name(r.protocol));
  out += fmt::format("load          {} publisher(s) -> {} subscriber(s), QoS {}, {} B payload, rate {} each\n",
                     r.publishers, r.subscribers, r.qos, r.payload, rate_text(r.rate_per_publisher));
  out += fmt::format("window        {:.1f} s after {:.1f} s warm-up\n", r.duration_seconds, r.warmup_seconds);
  out += fmt::format("sent          {:>12.0f} msg/s  ({} messages in window)\n", r.sent_per_second,
                     r.sent_in_window);
  out += fmt::format("delivered     {:>12.0f} msg/s  ({} messages in window)\n", r.delivered_per_second,
                     r.delivered_in_window);
  if (r.latency_count > 0) {
    out += fmt::format("latency       p50 {:.1f} us   p99 {:.1f} us   p99.9 {:.1f} us   max {:.1f} us   mean {:.1f} us\n",
                       r.latency_p50_us, r.latency_p99_us, r.latency_p999_us, r.latency_max_us, r.latency_mean_us);
  } else {
    out += "latency       no deliveries in the window\n";
  }
  out += fmt::format("whole run     sent {}  expected {}  received {}  lost {}  duplicates {}", r.sent, r.expected,
                     r.received, r.lost, r.duplicates);
  if (r.qos > 0) out += fmt::format("  acked {}  rejected {}", r.acked, r.rejected);
  if (r.foreign > 0) out += fmt::format("  foreign {}", r.foreign);
  out += "\n";
  if (!r.drained) out += "note          not every expected message arrived before the drain deadline\n";
  return out;
}

std::string to_table(const ConnectionResult& r) {
  std::string out;
  out += fmt::format("broker        {} ({}, MQTT {})\n", r.broker, r.tls ? "TLS" : "TCP", protocol_name(r.protocol));
  out += fmt::format("connected     {} of {} in {:.3f} s ({:.0f} connections/s)\n", r.connected, r.requested,
                     r.connect_seconds, r.connect_rate);
  out += fmt::format("held          {:.1f} s, {} dropped by the broker\n", r.held_seconds, r.dropped);
  if (!r.first_error.empty()) out += fmt::format("first error   {}\n", r.first_error);
  return out;
}

}  // namespace fg::bench
