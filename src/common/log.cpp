#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace fg::log {

void init(Level level) {
  static const bool once = [] {
    auto logger = spdlog::stderr_color_mt("fleetguard");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)once;
  switch (level) {
    case Level::Trace: spdlog::set_level(spdlog::level::trace); break;
    case Level::Debug: spdlog::set_level(spdlog::level::debug); break;
    case Level::Info: spdlog::set_level(spdlog::level::info); break;
    case Level::Warn: spdlog::set_level(spdlog::level::warn); break;
    case Level::Error: spdlog::set_level(spdlog::level::err); break;
    case Level::Off: spdlog::set_level(spdlog::level::off); break;
  }
}

bool parse_level(std::string_view text, Level& out) {
  if (text == "trace") out = Level::Trace;
  else if (text == "debug") out = Level::Debug;
  else if (text == "info") out = Level::Info;
  else if (text == "warn") out = Level::Warn;
  else if (text == "error") out = Level::Error;
  else if (text == "off") out = Level::Off;
  else return false;
  return true;
}

}  // namespace fg::log
