#include "mqtt/utf8.hpp"

#include "support/reference_utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fg::mqtt {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (const int c : b) s.push_back(static_cast<char>(c));
  return s;
}

bool reference_valid(const std::string& s) { return fg::testing::reference_valid_utf8(s); }

TEST(Utf8, Ascii) {
  EXPECT_TRUE(valid_mqtt_utf8(""));
  EXPECT_TRUE(valid_mqtt_utf8("a"));
  EXPECT_TRUE(valid_mqtt_utf8("sensors/temperature/room-1 with a long ascii tail"));
  EXPECT_TRUE(valid_mqtt_utf8("\x01\x1F\x7F"));  // control characters are "SHOULD NOT", not forbidden
}

TEST(Utf8, NullIsRejectedAtEveryPosition) {
  // Positions inside and across the 8-byte fast path.
  for (size_t len = 1; len <= 24; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      std::string s(len, 'a');
      s[pos] = '\0';
      EXPECT_FALSE(valid_mqtt_utf8(s)) << len << " " << pos;
    }
  }
}

TEST(Utf8, WellFormedMultiByte) {
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xC2, 0x80})));              // U+0080
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xC3, 0xA9})));              // é
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xDF, 0xBF})));              // U+07FF
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xE0, 0xA0, 0x80})));        // U+0800
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xE2, 0x82, 0xAC})));        // €
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xED, 0x9F, 0xBF})));        // U+D7FF, just below surrogates
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xEE, 0x80, 0x80})));        // U+E000, just above
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xEF, 0xBF, 0xBF})));        // U+FFFF (a non-character, allowed)
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xF0, 0x90, 0x80, 0x80})));  // U+10000
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xF0, 0x9F, 0x98, 0x80})));  // emoji
  EXPECT_TRUE(valid_mqtt_utf8(bytes({0xF4, 0x8F, 0xBF, 0xBF})));  // U+10FFFF
  EXPECT_TRUE(valid_mqtt_utf8("température/°C/日本語"));
}

TEST(Utf8, Overlong) {
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC0, 0x80})));  // overlong U+0000 ("modified UTF-8")
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC0, 0xAF})));  // overlong '/'
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC1, 0xBF})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xE0, 0x80, 0xAF})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xE0, 0x9F, 0xBF})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF0, 0x80, 0x80, 0xAF})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})));
}

TEST(Utf8, Surrogates) {
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xED, 0xA0, 0x80})));  // U+D800
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xED, 0xAF, 0xBF})));  // U+DBFF
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xED, 0xB0, 0x80})));  // U+DC00
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xED, 0xBF, 0xBF})));  // U+DFFF
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})));  // CESU-8 pair
}

TEST(Utf8, BeyondUnicode) {
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF5, 0x80, 0x80, 0x80})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF7, 0xBF, 0xBF, 0xBF})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})));  // old 5-byte form
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xFE})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xFF})));
}

TEST(Utf8, TruncatedAndStray) {
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC3})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xE2, 0x82})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xF0, 0x9F, 0x98})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC3, 'a'})));           // continuation replaced by ASCII
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xE2, 0x82, 'a', 'b'})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0x80})));                // stray continuation
  EXPECT_FALSE(valid_mqtt_utf8(bytes({'a', 0xBF, 'b'})));
  EXPECT_FALSE(valid_mqtt_utf8(bytes({0xC3, 0xA9, 0xA9})));    // one continuation too many
}

TEST(Utf8, NonAsciiAtEveryOffsetOfALongString) {
  // The fast path reads 8 bytes at a time; errors must be seen wherever they sit.
  for (size_t pos = 0; pos < 40; ++pos) {
    std::string good(40, 'x');
    good.replace(pos, 2, bytes({0xC3, 0xA9}));
    EXPECT_TRUE(valid_mqtt_utf8(good)) << pos;
    std::string bad(40, 'x');
    bad[pos] = static_cast<char>(0xC0);
    EXPECT_FALSE(valid_mqtt_utf8(bad)) << pos;
    std::string truncated(pos, 'x');
    truncated += bytes({0xE2, 0x82});
    EXPECT_FALSE(valid_mqtt_utf8(truncated)) << pos;
  }
}

TEST(Utf8, AgreesWithReferenceOnAllShortSequences) {
  // Every 1- and 2-byte string, and every 3- and 4-byte string whose first byte is
  // a lead byte of a 3- or 4-byte sequence (continuations sampled on 4 bytes).
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s = bytes({a});
    ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a;
    for (int b = 0; b < 256; ++b) {
      s = bytes({a, b});
      ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << " " << b;
    }
  }
  for (int a = 0xE0; a <= 0xFF; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        s = bytes({a, b, c});
        ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << " " << b << " " << c;
      }
    }
  }
  for (int a = 0xF0; a <= 0xF7; ++a) {
    for (int b = 0x80; b < 0xC0; ++b) {
      for (const int c : {0x7F, 0x80, 0xBF, 0xC0}) {
        for (const int d : {0x00, 0x80, 0xBF, 0xC0}) {
          s = bytes({a, b, c, d});
          ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << " " << b << " " << c << " " << d;
        }
      }
    }
  }
}

}  // namespace
}  // namespace fg::mqtt
