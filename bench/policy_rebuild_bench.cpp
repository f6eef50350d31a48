// Rebuilding a connection's policy snapshot from the registry (issue 4: when
// a policy attached to a group of 100,000 connected things gets a new default
// version, every connection's snapshot is recompiled; target: all see it
// within 2 s). One iteration is what a worker does per connection in
// Broker::refresh_policies: RegistryAuthorizer::snapshot_for (thing lookup,
// attachment check, effective policies through three group levels, compile)
// and the swap of the shared_ptr. 100,000 connections cost 100,000 times
// this, spread over the workers (2 here): see bench/RESULTS.md.
//
// The registry holds 400 things (each with its own certificate) in a
// NorthAmerica > center > type hierarchy; lookups are O(log n), so the per-
// connection figure carries over to larger registries.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "identity/certificate_authority.hpp"
#include "identity/device_identity.hpp"
#include "registry/policy_authorizer.hpp"
#include "registry/registry.hpp"
#include "store/store.hpp"

namespace fg {
namespace {

namespace fs = std::filesystem;

constexpr int kThings = 400;

const char* kDevicePolicy = R"({"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
  {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/dc/${iot:Connection.Thing.ThingName}/*","arn:aws:iot:us-east-1:123456789012:topic/dc/broadcast/*"]},
  {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/dc/${iot:Connection.Thing.ThingName}/*"}]})";

struct Fleet {
  fs::path dir;
  std::unique_ptr<identity::CertificateAuthority> ca;
  std::unique_ptr<store::Store> db;
  std::unique_ptr<registry::Registry> reg;
  std::vector<identity::DeviceIdentity> devices;

  Fleet() {
    dir = fs::temp_directory_path() / ("fg_policy_rebuild_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto made_ca = identity::CertificateAuthority::load_or_create(dir.string());
    ca = std::make_unique<identity::CertificateAuthority>(std::move(made_ca.value()));
    auto opened = store::open_sqlite_store((dir / "fleetguard.db").string());
    db = std::move(opened.value());
    registry::RegistryConfig cfg;
    cfg.certificate_authority = ca.get();
    auto loaded = registry::Registry::open(*db, cfg);
    reg = std::move(loaded.value());
    (void)reg->create_policy("DevicePolicy", kDevicePolicy);
    (void)reg->create_thing_group("NorthAmerica", std::nullopt, {});
    (void)reg->attach_policy("DevicePolicy", "arn:aws:iot:us-east-1:123456789012:thinggroup/NorthAmerica");
    for (const char* center : {"ATL1", "DFW2"}) {
      (void)reg->create_thing_group(center, "NorthAmerica", {});
      (void)reg->create_thing_group(std::string(center) + "-Sensors", center, {});
    }
    for (int i = 0; i < kThings; ++i) {
      const std::string thing = "sensor-" + std::to_string(i);
      const std::string group = i % 2 ? "ATL1-Sensors" : "DFW2-Sensors";
      (void)reg->create_thing(thing, "", {});
      (void)reg->add_thing_to_thing_group(group, thing);
      auto made = reg->create_keys_and_certificate(registry::ActivationOnCreate::Active);
      (void)reg->attach_thing_principal(thing, made->certificate.arn);
      identity::DeviceIdentity d;
      d.certificate_id = made->certificate.id;
      d.subject_fields = {{"CN", "AWS IoT Certificate"}};
      d.things = {thing};
      devices.push_back(std::move(d));
    }
  }
  ~Fleet() {
    reg.reset();
    db.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fleet& fleet() {
  static Fleet f;
  return f;
}

void BM_RebuildSnapshotFromRegistry(benchmark::State& state) {
  Fleet& f = fleet();
  registry::RegistryAuthorizer authorizer(*f.reg, "us-east-1", "123456789012");
  std::shared_ptr<const policy::PolicySnapshot> current;  // what a Client holds
  size_t i = 0;
  for (auto _ : state) {
    const auto& d = f.devices[i % f.devices.size()];
    auto next = authorizer.snapshot_for(&d, d.things.front(), "10.1.2.3");
    current.swap(next);
    benchmark::DoNotOptimize(current);
    ++i;
  }
  if (!current->allowed(policy::Action::Publish, "dc/" + f.devices[(i - 1) % f.devices.size()].things.front() + "/t")) {
    state.SkipWithError("the rebuilt snapshot does not allow the device's own topic");
  }
}
BENCHMARK(BM_RebuildSnapshotFromRegistry);

}  // namespace
}  // namespace fg

BENCHMARK_MAIN();
