// A deliberately slow, obviously-correct UTF-8 check with MQTT's rules
// (shortest form, no surrogates, at most U+10FFFF, no U+0000): decode each
// code point the long way, then apply the rules. The oracle that the unit
// tests and the fuzz target hold valid_mqtt_utf8 to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fg::testing {

inline bool reference_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      n = 1;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      n = 2;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      n = 3;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || cp == 0) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace fg::testing
