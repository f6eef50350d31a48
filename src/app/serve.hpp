// `fleetguard serve`: the long-running process (MQTT data plane for now).
#pragma once

namespace CLI {
class App;
}

namespace fg::app {

void add_serve_command(CLI::App& app);

}  // namespace fg::app
