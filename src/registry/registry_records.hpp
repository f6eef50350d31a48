// Helpers shared by the Registry's implementation files (registry.cpp,
// certificates.cpp): error construction and store mutations carrying JSON
// records. Internal to fg_registry; not part of its interface.
#pragma once

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

}  // namespace fg::registry::records
