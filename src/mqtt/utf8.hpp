// UTF-8 validation with MQTT's rules (MQTT 5 section 1.5.4, 3.1.1 section 1.5.3):
// well-formed UTF-8, no surrogates (U+D800..U+DFFF), no U+0000, no overlong forms.
#pragma once

#include <string_view>

namespace fg::mqtt {

bool valid_mqtt_utf8(std::string_view s);

}  // namespace fg::mqtt
