// The JSON type of the codec. Ordered, so that a payload decoded and encoded again keeps the
// order of its keys (an inspector or proxy must show what was on the wire, not a sorted copy).
#pragma once

#include <nlohmann/json.hpp>

namespace sio::codec {
using json = nlohmann::ordered_json;
}  // namespace sio::codec
