// Logging for fleetguard: a thin wrapper over spdlog so that every module logs
// the same way and the format can change in one place. Thread-safe.
// Never log secrets (private keys, passwords, credentials, payloads).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace fg::log {

enum class Level { Trace, Debug, Info, Warn, Error, Off };

// Sets up the process-wide logger (stderr, with timestamps). Idempotent.
void init(Level level);
// Parses "trace|debug|info|warn|error|off"; returns false on unknown text.
bool parse_level(std::string_view text, Level& out);

template <class... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::info(fmt, std::forward<Args>(args)...); }
template <class... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::warn(fmt, std::forward<Args>(args)...); }
template <class... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::error(fmt, std::forward<Args>(args)...); }
template <class... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::debug(fmt, std::forward<Args>(args)...); }

}  // namespace fg::log
