#include "app/keys.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>

#include "api/access_keys.hpp"
#include "store/store.hpp"

namespace fg::app {
namespace {

struct KeysOptions {
  std::string data_dir = "./fleetguard-data";
  bool read_only = false;
};

int run_keys_create(const KeysOptions& opts) {
  std::error_code ec;
  std::filesystem::create_directories(opts.data_dir, ec);
  if (ec) {
    std::cerr << "fleetguard: cannot create " << opts.data_dir << ": " << ec.message() << "\n";
    return 1;
  }
  auto db = store::open_sqlite_store(opts.data_dir + "/fleetguard.db");
  if (!db) {
    std::cerr << "fleetguard: cannot open " << opts.data_dir << "/fleetguard.db: " << db.error().message << "\n";
    return 1;
  }
  api::AccessKeyStore keys(**db);
  auto key = keys.create(opts.read_only ? api::AccessLevel::ReadOnly : api::AccessLevel::Full);
  if (!key) {
    std::cerr << "fleetguard: " << key.error() << "\n";
    return 1;
  }
  // Printed once, as a shared-credentials profile: the secret is not shown again.
  std::cout << "[fleetguard" << (opts.read_only ? "-read-only" : "") << "]\n"
            << "aws_access_key_id = " << key->id << "\n"
            << "aws_secret_access_key = " << key->secret << "\n";
  return 0;
}

}  // namespace

void add_keys_command(CLI::App& app) {
  CLI::App* keys = app.add_subcommand("keys", "Manage API access keys (AWS SigV4 credentials)");
  keys->require_subcommand(1);
  auto opts = std::make_shared<KeysOptions>();
  CLI::App* create = keys->add_subcommand("create", "Create an access key pair and print it once");
  create->add_option("--data-dir", opts->data_dir, "fleetguard's data directory")->capture_default_str();
  create->add_flag("--read-only", opts->read_only, "Allow only Describe*, List* and Get* operations");
  create->callback([opts] {
    int rc = run_keys_create(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace fg::app
