// Registry scale check (issue 3): creates N things, each with an active
// certificate made by the built-in CA and attached to it, through the public
// Registry API on the real SQLite store, then measures reopening.
//   registry_scale <N> <data-dir>            create N devices, then report
//   registry_scale 0 <data-dir> openonly     only time opening an existing registry
// Built by bench/CMakeLists.txt as fg_registry_scale.
#include "registry/registry.hpp"
#include "store/store.hpp"
#include "identity/certificate_authority.hpp"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  std::string dir = argc > 2 ? argv[2] : "/tmp/rb/data";
  auto ca = fg::identity::CertificateAuthority::load_or_create(dir);
  auto db = fg::store::open_sqlite_store(dir + "/fleetguard.db");
  fg::registry::RegistryConfig cfg; cfg.certificate_authority = &*ca;
  auto t0 = std::chrono::steady_clock::now();
  {
    auto reg = fg::registry::Registry::open(**db, cfg);
    auto t1 = std::chrono::steady_clock::now();
    printf("open existing: %lld ms, things %zu\n", (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t1-t0).count(), (*reg)->list_things({}).size());
    if (argc > 3) return 0;
    for (int i = 0; i < n; ++i) {
      std::string name = "SensorDevice" + std::to_string(i);
      auto t = (*reg)->create_thing(name, "", {{"SensorType","DHT22"}});
      if (!t) { printf("err %s\n", t.error().message.c_str()); return 1; }
      auto c = (*reg)->create_keys_and_certificate(fg::registry::ActivationOnCreate::Active);
      if (!c) { printf("err %s\n", c.error().message.c_str()); return 1; }
      auto a = (*reg)->attach_thing_principal(name, c->certificate.arn);
      if (!a) { printf("err %s\n", a.error().message.c_str()); return 1; }
    }
    auto t2 = std::chrono::steady_clock::now();
    printf("created %d things+certs+attachments: %lld ms\n", n, (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t2-t1).count());
  }
  return 0;
}
