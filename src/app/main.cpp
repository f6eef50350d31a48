// fleetguard: one process that is an IoT fleet's MQTT broker and its security
// control plane. This file only wires the subcommands.
#include <CLI/CLI.hpp>

#include "app/keys.hpp"
#include "app/serve.hpp"
#include "bench/bench_cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"fleetguard: self-hosted IoT fleet security (MQTT broker, audit, detect, alerts)"};
  app.require_subcommand(1);
  fg::app::add_serve_command(app);
  fg::app::add_keys_command(app);
  fg::bench::add_bench_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
