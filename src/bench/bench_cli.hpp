// `fleetguard bench`: an MQTT load generator that targets any MQTT broker
// (fleetguard, mosquitto, ...) over TCP or TLS. Two modes: a publish/subscribe
// load that reports throughput and end-to-end latency (LoadRun), and
// --connections-only, which opens many idle connections and holds them
// (ConnectionHold). bench/README.md shows how to run it and compare brokers.
#pragma once

namespace CLI {
class App;
}

namespace fg::bench {

// Registers the `bench` subcommand (options + callback) on the fleetguard CLI.
// The callback runs the benchmark and prints the results to stdout; on failure
// it prints the reason to stderr and throws CLI::RuntimeError carrying an
// ExitCode (bench_options.hpp).
void add_bench_command(CLI::App& app);

}  // namespace fg::bench
