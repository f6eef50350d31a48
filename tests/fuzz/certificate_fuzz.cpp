// libFuzzer target: the X.509 parsers that see outside input (device
// certificates in PEM and DER, certificate signing requests). Oracles: no
// crash or sanitizer report; a certificate that parses parses again,
// identically (same id and subject), from the PEM we produced.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "identity/certificate.hpp"
#include "identity/certificate_authority.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "oracle failed: %s\n", what);
    std::abort();
  }
}

const fg::identity::CertificateAuthority& ca() {
  static std::optional<fg::identity::CertificateAuthority> instance = [] {
    auto dir = std::filesystem::temp_directory_path() / ("fg-fuzz-ca-" + std::to_string(::getpid()));
    auto made = fg::identity::CertificateAuthority::load_or_create(dir.string());
    require(made.has_value(), "cannot create the fuzzing CA");
    return std::optional<fg::identity::CertificateAuthority>(std::move(*made));
  }();
  return *instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto der = fg::identity::parse_certificate_der(bytes)) {
    auto again = fg::identity::parse_certificate_pem(der->pem);
    require(again.has_value(), "our own PEM does not parse");
    require(again->id == der->id && again->subject == der->subject, "PEM round trip changed the certificate");
  }
  if (auto pem = fg::identity::parse_certificate_pem(text)) {
    require(!pem->id.empty(), "parsed certificate without an id");
    (void)ca().verify(*pem);
  }
  if (auto signed_cert = ca().sign_csr(text, 1)) {
    require(ca().verify(*signed_cert), "a certificate we signed does not verify");
  }
  return 0;
}
