// Helpers shared by the Registry's implementation files (registry.cpp,
// certificates.cpp): error construction and store mutations carrying JSON
// records. Internal to fg_registry; not part of its interface.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "registry/registry.hpp"
#include "store/store.hpp"

namespace fg::registry::records {

inline Unexpected<RegistryError> fail(RegistryError::Kind kind, std::string message) {
  return fg::unexpected(RegistryError{kind, std::move(message)});
}

inline store::Mutation put(const char* kind, const std::string& key, const nlohmann::json& value) {
  // Inputs are validated (ASCII names and values, UTF-8 descriptions), so the
  // replace handler never fires; it only guarantees dump() cannot throw.
  return store::Mutation{store::Mutation::Op::Put, kind, key,
                         value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), std::nullopt};
}

inline store::Mutation erase(const char* kind, const std::string& key) {
  return store::Mutation{store::Mutation::Op::Delete, kind, key, "", std::nullopt};
}

// Loads every record of `kind`: `fn(record)` returns an error text for a
// record it cannot accept (or throws a JSON error); either makes the load
// fail with Internal, naming the record.
template <class Fn>
Result<store::Done, RegistryError> for_each_record(store::Store& store, const char* kind, Fn fn) {
  auto records = store.list(kind);
  if (!records) return fail(RegistryError::Kind::Internal, std::string("cannot read ") + kind + " records: " +
                                                               records.error().message);
  for (const auto& r : *records) {
    std::optional<std::string> error;
    try {
      error = fn(r);
    } catch (const nlohmann::json::exception& e) {
      error = e.what();
    }
    if (error) return fail(RegistryError::Kind::Internal, "corrupt record " + r.kind + "/" + r.key + ": " + *error);
  }
  return store::Done{};
}

inline constexpr std::size_t kMaxCertificatePemLength = 65536;  // AWS CertificatePem

inline bool is_certificate_id(const std::string& id) {
  return id.size() == 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

inline std::optional<RegistryError> check_certificate_id(const std::string& id) {
  if (!is_certificate_id(id)) {
    return RegistryError{RegistryError::Kind::InvalidRequest,
                         "certificateId must be 64 lowercase hexadecimal characters, got '" + id.substr(0, 100) + "'"};
  }
  return std::nullopt;
}

}  // namespace fg::registry::records
