// The registry's AWS IoT operations (things, thing types, thing groups,
// certificates, thing principals, DescribeEndpoint) as ApiService handlers
// over registry::Registry. Every mutation goes through the Registry, so the
// broker sees it live.
//
// Threading: the handlers may run concurrently on the API's threads (the
// Registry is thread-safe). Ownership: the Registry is borrowed and must
// outlive the ApiService.
#pragma once

#include <string>

#include "api/api_error.hpp"
#include "api/service.hpp"
#include "registry/registry.hpp"

namespace fg::api {

struct RegistryApiConfig {
  // DescribeEndpoint's answer for iot:Data-ATS / iot:Data: this node's MQTT
  // TLS listener as "host:port"; empty when there is none.
  std::string data_endpoint;
};

void add_registry_operations(ApiService& service, registry::Registry& registry, RegistryApiConfig cfg);

// The AWS error for a registry error.
ApiError to_api_error(const registry::RegistryError& e);

}  // namespace fg::api
