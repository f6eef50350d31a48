#include "api/access_keys.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

namespace fg::api {
namespace {

constexpr const char* kKeyKind = "access_key";
constexpr const char* kConfigKind = "api_config";

std::string random_chars(std::string_view alphabet, std::size_t n) {
  // Rejection sampling keeps every character equally likely.
  std::string out;
  std::vector<unsigned char> buf(n * 2 + 16);
  std::size_t limit = 256 - (256 % alphabet.size());
  while (out.size() < n) {
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : buf) {
      if (b >= limit) continue;
      out.push_back(alphabet[b % alphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<AccessKey> parse_record(const std::string& id, const std::string& value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("secret") || !j["secret"].is_string()) return std::nullopt;
  AccessKey k;
  k.id = id;
  k.secret = j["secret"].get<std::string>();
  k.level = j.value("access", "full") == "read-only" ? AccessLevel::ReadOnly : AccessLevel::Full;
  return k;
}

}  // namespace

std::string random_access_key_id() { return "AKIA" + random_chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16); }

std::string random_secret_access_key() {
  return random_chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
}

Result<std::string, std::string> load_or_create_account_id(store::Store& store) {
  auto rec = store.get(kConfigKind, "account_id");
  if (!rec) return fg::unexpected("cannot read the account id: " + rec.error().message);
  if (*rec) {
    auto j = nlohmann::json::parse((*rec)->value, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("account_id") && j["account_id"].is_string())
      return j["account_id"].get<std::string>();
    return fg::unexpected(std::string("corrupt api_config/account_id record"));
  }
  std::string id = random_chars("123456789", 1) + random_chars("0123456789", 11);
  store::Mutation m{store::Mutation::Op::Put, kConfigKind, "account_id", nlohmann::json{{"account_id", id}}.dump(), 0};
  auto done = store.apply({m});
  if (!done) {
    // Another process may have created it first: read theirs.
    auto again = store.get(kConfigKind, "account_id");
    if (again && *again) {
      auto j = nlohmann::json::parse((*again)->value, nullptr, false);
      if (!j.is_discarded() && j.contains("account_id") && j["account_id"].is_string())
        return j["account_id"].get<std::string>();
    }
    return fg::unexpected("cannot store the account id: " + done.error().message);
  }
  return id;
}

AccessKeyStore::AccessKeyStore(store::Store& store) : store_(store) {}

Result<AccessKey, std::string> AccessKeyStore::create(AccessLevel level, KeyRole role) {
  AccessKey k;
  k.id = random_access_key_id();
  k.secret = random_secret_access_key();
  k.level = level;
  nlohmann::json rec{{"secret", k.secret},
                     {"access", level == AccessLevel::ReadOnly ? "read-only" : "full"},
                     {"admin", role == KeyRole::Admin},
                     {"created", now_seconds()}};
  auto done = store_.apply({store::Mutation{store::Mutation::Op::Put, kKeyKind, k.id, rec.dump(), 0}});
  if (!done) return fg::unexpected("cannot store the access key: " + done.error().message);
  std::lock_guard lock(mu_);
  cache_[k.id] = k;
  return k;
}

std::optional<AccessKey> AccessKeyStore::load(const std::string& id) {
  auto rec = store_.get(kKeyKind, id);
  if (!rec || !*rec) return std::nullopt;
  return parse_record(id, (*rec)->value);
}

std::optional<AccessKey> AccessKeyStore::find(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
  }
  // Key ids have a fixed shape; anything else is not worth a store lookup.
  if (id.size() < 16 || id.size() > 128) return std::nullopt;
  auto k = load(id);
  if (!k) return std::nullopt;
  std::lock_guard lock(mu_);
  cache_[id] = *k;
  return k;
}

Result<AccessKey, std::string> AccessKeyStore::ensure_admin(const std::string& data_dir) {
  auto all = store_.list(kKeyKind);
  if (!all) return fg::unexpected("cannot read access keys: " + all.error().message);
  std::optional<AccessKey> admin;
  for (const auto& r : *all) {
    auto j = nlohmann::json::parse(r.value, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.value("admin", false)) continue;
    admin = parse_record(r.key, r.value);
    if (admin) break;
  }
  std::string path = data_dir + "/admin-credentials";
  if (!admin) {
    auto created = create(AccessLevel::Full, KeyRole::Admin);
    if (!created) return fg::unexpected(created.error());
    admin = *created;
    auto w = write_credentials_file(path, *admin);
    if (!w) return fg::unexpected(w.error());
  } else if (::access(path.c_str(), F_OK) != 0) {
    auto w = write_credentials_file(path, *admin);
    if (!w) return fg::unexpected(w.error());
  }
  std::lock_guard lock(mu_);
  cache_[admin->id] = *admin;
  return *admin;
}

Result<bool, std::string> write_credentials_file(const std::string& path, const AccessKey& key) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fg::unexpected("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  std::string text = "# fleetguard API admin credentials (AWS shared credentials file).\n"
                     "# AWS_SHARED_CREDENTIALS_FILE=" + path + " aws --endpoint-url http://127.0.0.1:<api-port> "
                     "--region us-east-1 iot list-things\n"
                     "[default]\naws_access_key_id = " + key.id + "\naws_secret_access_key = " + key.secret + "\n";
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fg::unexpected("cannot write " + tmp + ": " + std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return fg::unexpected("cannot write " + tmp + ": " + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return fg::unexpected("cannot rename " + tmp + ": " + std::strerror(errno));
  return true;
}

}  // namespace fg::api
