#include "api/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace fg::api {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

using Mac = std::array<unsigned char, 32>;

Mac hmac(std::string_view key, std::string_view data) {
  Mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

std::string_view as_view(const Mac& m) { return {reinterpret_cast<const char*>(m.data()), m.size()}; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Header value canonical form: trimmed, runs of spaces collapsed to one.
std::string canonical_header_value(std::string_view v) {
  v = trim(v);
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

ApiError sig_error(std::string type, std::string message) { return ApiError{403, std::move(type), std::move(message)}; }

}  // namespace

bool accepted_signing_name(std::string_view service) {
  return service == "execute-api" || service == "iot" || service == "iotdata" || service == "sns";
}

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = val(s[i + 1]), lo = val(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string canonical_uri(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  return uri_encode(raw_path, false);
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    // A malformed escape is signed as sent (re-encoded byte by byte).
    auto dk = percent_decode(k);
    auto dv = percent_decode(v);
    pairs.emplace_back(uri_encode(dk ? *dk : std::string(k), true), uri_encode(dv ? *dv : std::string(v), true));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

Result<std::string, std::string> canonical_request(const HttpRequest& req, const std::vector<std::string>& signed_headers,
                                                   const std::string& payload_hash) {
  std::string out;
  out.reserve(512);
  out += req.method;
  out.push_back('\n');
  out += canonical_uri(req.path());
  out.push_back('\n');
  out += canonical_query(req.query());
  out.push_back('\n');
  for (const auto& name : signed_headers) {
    auto values = req.header_values(name);
    if (values.empty()) return fg::unexpected("signed header '" + name + "' is missing from the request");
    out += name;
    out.push_back(':');
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out.push_back(',');
      out += canonical_header_value(values[i]);
    }
    out.push_back('\n');
  }
  out.push_back('\n');
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    if (i) out.push_back(';');
    out += signed_headers[i];
  }
  out.push_back('\n');
  out += payload_hash;
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(md, sizeof md);
}

std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign) {
  std::string k = "AWS4";
  k += secret;
  Mac k_date = hmac(k, date);
  OPENSSL_cleanse(k.data(), k.size());
  Mac k_region = hmac(as_view(k_date), region);
  Mac k_service = hmac(as_view(k_region), service);
  Mac k_signing = hmac(as_view(k_service), "aws4_request");
  Mac sig = hmac(as_view(k_signing), string_to_sign);
  return hex(sig.data(), sig.size());
}

Result<SigV4Authorization, std::string> parse_authorization(std::string_view header) {
  header = trim(header);
  if (header.substr(0, kAlgorithm.size()) != kAlgorithm)
    return fg::unexpected(std::string("unsupported authorization algorithm (expected AWS4-HMAC-SHA256)"));
  header.remove_prefix(kAlgorithm.size());
  if (header.empty() || header.front() != ' ') return fg::unexpected(std::string("malformed Authorization header"));
  SigV4Authorization out;
  bool have_cred = false, have_signed = false, have_sig = false;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view part = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return fg::unexpected("malformed Authorization component '" + std::string(part.substr(0, 64)) + "'");
    std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "Credential") {
      // AKID/date/region/service/aws4_request
      std::vector<std::string_view> fields;
      while (true) {
        auto slash = value.find('/');
        fields.push_back(value.substr(0, slash));
        if (slash == std::string_view::npos) break;
        value.remove_prefix(slash + 1);
      }
      if (fields.size() != 5 || fields[4] != "aws4_request" || fields[0].empty() || fields[1].size() != 8 ||
          fields[2].empty() || fields[3].empty())
        return fg::unexpected(std::string(
            "Credential should be scoped to a valid region and service: <key>/<date>/<region>/<service>/aws4_request"));
      out.access_key_id = fields[0];
      out.date = fields[1];
      out.region = fields[2];
      out.service = fields[3];
      have_cred = true;
    } else if (key == "SignedHeaders") {
      out.signed_headers.clear();
      while (true) {
        auto semi = value.find(';');
        std::string_view h = value.substr(0, semi);
        if (h.empty()) return fg::unexpected(std::string("empty name in SignedHeaders"));
        out.signed_headers.push_back(to_lower(h));
        if (semi == std::string_view::npos) break;
        value.remove_prefix(semi + 1);
      }
      have_signed = true;
    } else if (key == "Signature") {
      if (value.size() != 64 || !is_lower_hex(value))
        return fg::unexpected(std::string("Signature must be 64 lower-case hex digits"));
      out.signature = value;
      have_sig = true;
    } else {
      return fg::unexpected("unknown Authorization component '" + std::string(key.substr(0, 64)) + "'");
    }
  }
  if (!have_cred || !have_signed || !have_sig)
    return fg::unexpected(std::string("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"));
  return out;
}

std::optional<int64_t> parse_amz_date(std::string_view t) {
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!num(0, 4, y) || !num(4, 2, mo) || !num(6, 2, d) || !num(9, 2, h) || !num(11, 2, mi) || !num(13, 2, s))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

std::string format_amz_date(int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

ApiResult<AccessKey> verify_sigv4(const HttpRequest& req, const AccessKeyLookup& lookup, int64_t now) {
  const std::string* authz = req.header("authorization");
  if (!authz) {
    return fail(sig_error("MissingAuthenticationTokenException", "Missing Authentication Token"));
  }
  auto auth = parse_authorization(*authz);
  if (!auth) return fail(sig_error("IncompleteSignatureException", auth.error()));
  if (!accepted_signing_name(auth->service))
    return fail(sig_error("InvalidSignatureException",
                          "Credential should be scoped to correct service: '" + auth->service.substr(0, 32) + "'"));
  if (std::find(auth->signed_headers.begin(), auth->signed_headers.end(), "host") == auth->signed_headers.end())
    return fail(sig_error("IncompleteSignatureException", "'Host' must be a signed header"));
  if (!std::is_sorted(auth->signed_headers.begin(), auth->signed_headers.end()))
    return fail(sig_error("IncompleteSignatureException", "SignedHeaders must be sorted"));

  const std::string* amz_date = req.header("x-amz-date");
  if (!amz_date)
    return fail(sig_error("IncompleteSignatureException", "Authorization header requires the X-Amz-Date header"));
  auto when = parse_amz_date(*amz_date);
  if (!when) return fail(sig_error("IncompleteSignatureException", "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z'"));
  if (amz_date->substr(0, 8) != auth->date)
    return fail(sig_error("InvalidSignatureException", "Credential date does not match X-Amz-Date"));
  if (*when < now - kMaxClockSkewSeconds || *when > now + kMaxClockSkewSeconds)
    return fail(sig_error("InvalidSignatureException",
                          "Signature expired: " + *amz_date + " is not within 15 minutes of the server time " +
                              format_amz_date(now)));

  auto key = lookup(auth->access_key_id);
  if (!key) return fail(sig_error("UnrecognizedClientException", "The security token included in the request is invalid."));

  std::string body_hash = sha256_hex(req.body);
  if (const std::string* declared = req.header("x-amz-content-sha256")) {
    if (*declared != body_hash)
      return fail(sig_error("InvalidSignatureException", "x-amz-content-sha256 does not match the request body"));
  }
  auto creq = canonical_request(req, auth->signed_headers, body_hash);
  if (!creq) return fail(sig_error("IncompleteSignatureException", creq.error()));
  std::string scope = auth->date + "/" + auth->region + "/" + auth->service + "/aws4_request";
  std::string sts = std::string(kAlgorithm) + "\n" + *amz_date + "\n" + scope + "\n" + sha256_hex(*creq);
  std::string expected = sigv4_signature(key->secret, auth->date, auth->region, auth->service, sts);
  if (CRYPTO_memcmp(expected.data(), auth->signature.data(), expected.size()) != 0)
    return fail(sig_error("InvalidSignatureException",
                          "The request signature we calculated does not match the signature you provided. Check "
                          "your AWS Secret Access Key and signing method."));
  return *std::move(key);
}

void sign_request(HttpRequest& req, const AccessKey& key, std::string_view region, std::string_view service,
                  int64_t now) {
  if (!req.header("host")) req.headers.emplace_back("Host", "localhost");
  std::string amz_date = format_amz_date(now);
  std::string date = amz_date.substr(0, 8);
  std::string body_hash = sha256_hex(req.body);
  req.headers.emplace_back("X-Amz-Date", amz_date);
  req.headers.emplace_back("X-Amz-Content-Sha256", body_hash);
  std::vector<std::string> names;
  for (const auto& [k, v] : req.headers) {
    std::string n = to_lower(k);
    if (n == "authorization") continue;
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  auto creq = canonical_request(req, names, body_hash);
  std::string scope = date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  std::string sts = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" + sha256_hex(*creq);
  std::string sig = sigv4_signature(key.secret, date, region, service, sts);
  std::string signed_list;
  for (const auto& n : names) {
    if (!signed_list.empty()) signed_list.push_back(';');
    signed_list += n;
  }
  req.headers.emplace_back("Authorization", std::string(kAlgorithm) + " Credential=" + key.id + "/" + scope +
                                                ", SignedHeaders=" + signed_list + ", Signature=" + sig);
}

}  // namespace fg::api
