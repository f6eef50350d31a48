#include "mqtt/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fg::mqtt {

namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t kLowBits = 0x0101010101010101ULL;

// True when all 8 bytes at `p` are ASCII and none is zero. Topic names, client
// ids and user properties are almost always ASCII, so this word-at-a-time test
// carries nearly all the work. `(v - 0x01..) & ~v & 0x80..` is non-zero exactly
// when some byte of v is zero (for bytes below 0x80, which is all that reaches it).
inline bool ascii_nonzero_word(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return ((v | ((v - kLowBits) & ~v)) & kHighBits) == 0;
}

}  // namespace

bool valid_mqtt_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    if (end - p >= 8 && ascii_nonzero_word(p)) {
      p += 8;
      continue;
    }
    const unsigned c = *p;
    if (c < 0x80) {
      if (c == 0) return false;  // U+0000 is forbidden in MQTT strings.
      ++p;
      continue;
    }
    // Well-formed sequences per Unicode table 3-7. Restricting the second byte's
    // range is what rejects overlong forms (C0, C1, E0 80..9F, F0 80..8F),
    // surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF).
    ptrdiff_t continuation = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      continuation = 1;
    } else if (c == 0xE0) {
      continuation = 2;
      lo = 0xA0;
    } else if (c == 0xED) {
      continuation = 2;
      hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) {
      continuation = 2;
    } else if (c == 0xF0) {
      continuation = 3;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      continuation = 3;
    } else if (c == 0xF4) {
      continuation = 3;
      hi = 0x8F;
    } else {
      return false;  // 80..BF (stray continuation), C0, C1, F5..FF.
    }
    if (end - p <= continuation) return false;  // truncated sequence
    if (p[1] < lo || p[1] > hi) return false;
    for (ptrdiff_t i = 2; i <= continuation; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += continuation + 1;
  }
  return true;
}

}  // namespace fg::mqtt
