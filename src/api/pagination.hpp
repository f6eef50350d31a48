// Opaque pagination tokens (nextToken / marker) for list operations: a token
// names the last item returned (base64 of "fg1:" + the item's sort key), so a
// page stays correct when items are added or removed between calls. A token
// that does not decode is InvalidRequestException.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.hpp"

namespace fg::api {

enum class SortOrder { Ascending, Descending };

struct PageRange {
  std::size_t begin = 0, end = 0;
  std::optional<std::string> next_token;  // set when more items follow
};

// `keys` are the items' sort keys in list order (sorted by `order`, unique).
// `token` is the caller's nextToken (absent = first page); `max_results` the
// page size.
ApiResult<PageRange> paginate(const std::vector<std::string>& keys, const std::optional<std::string>& token,
                              std::size_t max_results, SortOrder order = SortOrder::Ascending);

std::string encode_page_token(const std::string& key);
std::optional<std::string> decode_page_token(const std::string& token);

}  // namespace fg::api
