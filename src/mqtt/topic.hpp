// Topic names and topic filters: validation, wildcard matching, shared
// subscription syntax. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace fg::mqtt {

// A PUBLISH topic name: non-empty, at most 65535 bytes, no '+' or '#', no U+0000.
bool valid_topic_name(std::string_view topic);
// A SUBSCRIBE topic filter: non-empty; '#' only as the whole last level; '+' only as a
// whole level. A shared filter "$share/<group>/<filter>" is valid when the group is
// non-empty without '+', '#' or '/', and <filter> is itself valid.
bool valid_topic_filter(std::string_view filter);
// True when `topic` (a valid name) matches `filter` (a valid, non-shared filter).
// Topics starting with '$' are not matched by filters starting with '+' or '#'.
bool topic_matches(std::string_view filter, std::string_view topic);
bool has_wildcard(std::string_view filter);

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// Splits "$share/<group>/<filter>"; nullopt if `filter` is not a shared subscription.
std::optional<SharedFilter> parse_shared_filter(std::string_view filter);

}  // namespace fg::mqtt
