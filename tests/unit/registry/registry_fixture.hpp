// Shared by the registry tests that need a built-in CA: a Registry on the
// real SQLite store in a temporary directory, with an injectable clock, and
// an error matcher. Header-only, test code.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "identity/certificate_authority.hpp"
#include "registry/registry.hpp"
#include "store/sqlite_store.hpp"

namespace fg::registry::fixture {

namespace fs = std::filesystem;
using Kind = RegistryError::Kind;

template <class T>
void expect_error(const Result<T, RegistryError>& r, Kind kind, const std::string& in_message = "") {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, kind) << r.error().message;
  EXPECT_NE(r.error().message.find(in_message), std::string::npos)
      << "message '" << r.error().message << "' does not mention '" << in_message << "'";
}

class CertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("fg_certificate_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_ / "ca");
    auto ca = identity::CertificateAuthority::load_or_create((dir_ / "ca").string());
    ASSERT_TRUE(ca.has_value()) << ca.error();
    ca_ = std::make_unique<identity::CertificateAuthority>(std::move(ca.value()));
    reopen();
  }
  void TearDown() override {
    registry_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void reopen() {
    registry_.reset();
    store_.reset();
    auto s = store::open_sqlite_store((dir_ / "fg.db").string());
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(s.value());
    RegistryConfig cfg;
    cfg.now_epoch_seconds = [this] { return now_; };
    cfg.certificate_authority = ca_.get();
    auto r = Registry::open(*store_, cfg);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    registry_ = std::move(r.value());
  }
  Registry& reg() { return *registry_; }
  Certificate create(ActivationOnCreate activation) {
    auto c = reg().create_keys_and_certificate(activation);
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c.has_value() ? c->certificate : Certificate{};
  }

  fs::path dir_;
  int64_t now_ = 1'700'000'000;
  std::unique_ptr<identity::CertificateAuthority> ca_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
};

}  // namespace fg::registry::fixture
