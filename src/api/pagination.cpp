#include "api/pagination.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace fg::api {

std::string encode_page_token(const std::string& key) {
  std::string raw = "fg1:" + key;
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> decode_page_token(const std::string& token) {
  if (token.empty() || token.size() % 4 != 0 || token.size() > 4096) return std::nullopt;
  for (char c : token)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') return std::nullopt;
  std::string out(token.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(token.data()), static_cast<int>(token.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  if (token.size() >= 1 && token[token.size() - 1] == '=') --len;
  if (token.size() >= 2 && token[token.size() - 2] == '=') --len;
  out.resize(len);
  if (out.compare(0, 4, "fg1:") != 0) return std::nullopt;
  return out.substr(4);
}

ApiResult<PageRange> paginate(const std::vector<std::string>& keys, const std::optional<std::string>& token,
                              std::size_t max_results, SortOrder order) {
  PageRange r;
  if (token) {
    auto last = decode_page_token(*token);
    if (!last) return fail(invalid_request("The pagination token is invalid"));
    auto it = order == SortOrder::Ascending
                  ? std::partition_point(keys.begin(), keys.end(), [&](const std::string& k) { return k <= *last; })
                  : std::partition_point(keys.begin(), keys.end(), [&](const std::string& k) { return k >= *last; });
    r.begin = static_cast<std::size_t>(it - keys.begin());
  }
  if (max_results == 0) max_results = 1;
  r.end = std::min(keys.size(), r.begin + max_results);
  if (r.end < keys.size() && r.end > r.begin) r.next_token = encode_page_token(keys[r.end - 1]);
  return r;
}

}  // namespace fg::api
