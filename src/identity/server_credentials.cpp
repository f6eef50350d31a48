#include "identity/server_credentials.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "identity/file_io.hpp"
#include "identity/openssl_handles.hpp"

namespace fg::identity {
namespace {

namespace fs = std::filesystem;

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Canonical text of an IP address ("0:0::1" -> "::1"), or empty if not an IP.
std::string canonical_ip(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, out, sizeof out) != nullptr) {
    return out;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out) != nullptr) {
    return out;
  }
  return {};
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

bool contains_all(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  return std::all_of(want.begin(), want.end(), [&](const std::string& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

// True when the files on disk already satisfy every requirement.
bool existing_is_usable(const CertificateAuthority& ca, const ServerFiles& files,
                        const std::vector<std::string>& dns_names, const std::vector<std::string>& ips) {
  auto cert_text = read_whole_file(files.cert_file);
  auto key_text = read_whole_file(files.key_file);
  if (!cert_text || !key_text) return false;
  auto leaf = parse_certificate_pem(*cert_text);
  if (!leaf || !ca.verify(*leaf)) return false;
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  if (leaf->not_after - now < int64_t{kServerRenewBeforeDays} * 86400) return false;
  std::vector<std::string> have_dns;
  for (const auto& d : leaf->dns_names) have_dns.push_back(lowercase(d));
  if (!contains_all(have_dns, dns_names) || !contains_all(leaf->ip_addresses, ips)) return false;
  // A crash between writing the key and the certificate leaves a mismatch.
  X509Ptr cert = read_x509_pem(*cert_text);
  EvpPkeyPtr key = read_private_key_pem(*key_text);
  bool match = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return match;
}

}  // namespace

Result<ServerFiles, std::string> ensure_server_credentials(const CertificateAuthority& ca, const std::string& dir,
                                                           std::vector<std::string> hostnames) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return unexpected("cannot create server credentials directory " + dir + ": " + ec.message());
  ServerFiles files{(fs::path(dir) / "server.crt").string(), (fs::path(dir) / "server.key").string()};

  std::vector<std::string> dns_names{"localhost"};
  std::vector<std::string> ips{"127.0.0.1", "::1"};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) hostnames.insert(hostnames.begin(), host);
  for (const auto& name : hostnames) {
    std::string ip = canonical_ip(name);
    if (!ip.empty()) {
      add_unique(ips, ip);
    } else {
      add_unique(dns_names, lowercase(name));
    }
  }

  if (existing_is_usable(ca, files, dns_names, ips)) return files;

  auto issued = ca.issue_server(dns_names, ips, kServerValidityDays);
  if (!issued) return unexpected(issued.error());
  // Key first: a certificate whose key is missing would be kept by nobody,
  // but a new key with an old certificate is detected above and re-issued.
  auto wrote_key = write_file_atomically(files.key_file, issued->private_key_pem, 0600);
  if (!wrote_key) return unexpected(wrote_key.error());
  auto wrote_cert = write_file_atomically(files.cert_file, issued->certificate.pem + ca.certificate().pem, 0644);
  if (!wrote_cert) return unexpected(wrote_cert.error());
  return files;
}

}  // namespace fg::identity
