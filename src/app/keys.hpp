// `fleetguard keys create [--read-only] --data-dir D`: adds an API key pair
// (SigV4 access key id + secret) to the data directory's store and prints it
// once. Runs in its own process; a running `fleetguard serve` picks the new
// key up on its first use.
#pragma once

namespace CLI {
class App;
}

namespace fg::app {

void add_keys_command(CLI::App& app);

}  // namespace fg::app
