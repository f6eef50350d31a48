// AWS Signature Version 4: verifying the Authorization header of API requests
// (and signing, for tests and the benchmark). Implements the canonical
// request of the AWS spec: URI-encoded path (each byte outside the RFC 3986
// unreserved set percent-encoded, so an already-encoded path is encoded a
// second time, as botocore and the AWS SDKs do for every service but S3),
// query parameters decoded, re-encoded and sorted, signed headers lower-cased
// with trimmed values, and the payload's SHA-256 (x-amz-content-sha256 when
// sent, which must then match the body).
//
// Threading: free functions over values; verify_sigv4 calls the key lookup on
// the calling thread. Secrets are never logged or copied into error messages.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_error.hpp"
#include "api/http_message.hpp"

namespace fg::api {

enum class AccessLevel { Full, ReadOnly };

// An API key pair. `secret` is the 40-character secret access key.
struct AccessKey {
  std::string id;
  std::string secret;
  AccessLevel level = AccessLevel::Full;
};

using AccessKeyLookup = std::function<std::optional<AccessKey>(const std::string& access_key_id)>;

struct SigV4Authorization {
  std::string access_key_id;
  std::string date;     // YYYYMMDD, from the credential scope
  std::string region;
  std::string service;  // signing name: execute-api, iot, iotdata, sns, ...
  std::vector<std::string> signed_headers;  // lower-case, as listed
  std::string signature;                    // 64 lower-case hex digits
};

// Parses "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iot/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<hex>". nullopt-style error text on
// anything malformed.
Result<SigV4Authorization, std::string> parse_authorization(std::string_view header);

// Percent-encodes every byte outside A-Z a-z 0-9 - _ . ~ (and '/' unless
// encode_slash).
std::string uri_encode(std::string_view s, bool encode_slash);
// Decodes %XX escapes; nullopt on a malformed escape. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view s);

std::string canonical_uri(std::string_view raw_path);
std::string canonical_query(std::string_view raw_query);
// The canonical request; error text when a signed header is missing.
Result<std::string, std::string> canonical_request(const HttpRequest& req,
                                                   const std::vector<std::string>& signed_headers,
                                                   const std::string& payload_hash);
std::string sha256_hex(std::string_view data);
// Hex HMAC-SHA256 signature of string_to_sign under the derived signing key.
std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign);

// Parses "20150830T123600Z" into Unix seconds.
std::optional<int64_t> parse_amz_date(std::string_view text);
std::string format_amz_date(int64_t epoch_seconds);

inline constexpr int64_t kMaxClockSkewSeconds = 15 * 60;

// Signing names accepted (what awscli/boto3 use for the services we serve).
bool accepted_signing_name(std::string_view service);

// Verifies req's SigV4 signature at time `now` (Unix seconds). On success the
// caller's key; on failure a 403 with the AWS error type a client expects
// (MissingAuthenticationTokenException, IncompleteSignatureException,
// UnrecognizedClientException, InvalidSignatureException).
ApiResult<AccessKey> verify_sigv4(const HttpRequest& req, const AccessKeyLookup& lookup, int64_t now);

// Adds Host (when absent), X-Amz-Date, X-Amz-Content-Sha256 and Authorization
// headers signing req with `key`. For tests and the benchmark client.
void sign_request(HttpRequest& req, const AccessKey& key, std::string_view region, std::string_view service,
                  int64_t now);

}  // namespace fg::api
