#include "mqtt/topic.hpp"

#include <cstddef>

namespace fg::mqtt {

namespace {

constexpr size_t kMaxTopicLength = 65535;  // a two-byte length prefix on the wire
constexpr std::string_view kSharePrefix = "$share/";

// A filter without the "$share/<group>/" prefix.
bool valid_plain_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > kMaxTopicLength) return false;
  const size_t n = filter.size();
  size_t level_start = 0;
  for (size_t i = 0; i < n; ++i) {
    switch (filter[i]) {
      case '\0':
        return false;
      case '+':
        // A whole level: preceded by '/' or the start, followed by '/' or the end.
        if (i != level_start || (i + 1 < n && filter[i + 1] != '/')) return false;
        break;
      case '#':
        // A whole level and the last one.
        if (i != level_start || i + 1 != n) return false;
        break;
      case '/':
        level_start = i + 1;
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace

bool valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicLength) return false;
  for (const char c : topic) {
    if (c == '+' || c == '#' || c == '\0') return false;
  }
  return true;
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.substr(0, kSharePrefix.size()) == kSharePrefix) {
    if (filter.size() > kMaxTopicLength) return false;
    const auto shared = parse_shared_filter(filter);
    return shared && valid_plain_filter(shared->filter);
  }
  return valid_plain_filter(filter);
}

bool has_wildcard(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  const size_t fn = filter.size();
  const size_t tn = topic.size();
  // MQTT 5 section 4.7.2: "$..." topics (e.g. $SYS) are invisible to filters that
  // start with a wildcard, so a "#" subscriber does not receive server internals.
  if (tn > 0 && topic[0] == '$' && fn > 0 && (filter[0] == '+' || filter[0] == '#')) {
    return false;
  }
  size_t fi = 0;
  size_t ti = 0;
  // Each iteration consumes one level of both; fi and ti start at a level start.
  for (;;) {
    if (fi < fn && filter[fi] == '#') return true;  // this level and everything below
    if (fi < fn && filter[fi] == '+') {
      while (ti < tn && topic[ti] != '/') ++ti;  // any level, including an empty one
      ++fi;
    } else {
      // A literal level: byte-for-byte equal up to the filter's next '/'. A '/' in
      // the topic where the filter has a literal byte is a mismatch like any other.
      while (fi < fn && filter[fi] != '/') {
        if (ti == tn || topic[ti] != filter[fi]) return false;
        ++fi;
        ++ti;
      }
    }
    // The filter's level ended (fi is at '/' or the end); the topic's must too.
    if (fi == fn) return ti == tn;
    if (ti == tn) {
      // The topic ran out first. Only a trailing "/#" still matches: "#" also
      // matches the parent level ("sport/#" matches "sport").
      return fi + 2 == fn && filter[fi + 1] == '#';
    }
    if (topic[ti] != '/') return false;
    ++fi;
    ++ti;
  }
}

std::optional<SharedFilter> parse_shared_filter(std::string_view filter) {
  if (filter.substr(0, kSharePrefix.size()) != kSharePrefix) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view group = rest.substr(0, slash);
  const std::string_view inner = rest.substr(slash + 1);
  // MQTT 5 section 4.8.2: the ShareName is at least one character and contains
  // no '/', '+' or '#'; a Topic Filter follows it.
  if (group.empty() || group.find_first_of("+#") != std::string_view::npos || inner.empty()) {
    return std::nullopt;
  }
  return SharedFilter{group, inner};
}

}  // namespace fg::mqtt
