// Small text helpers shared by the readers.
#pragma once

#include <cstdint>
#include <string>

namespace embed {

/// Appends the UTF-8 encoding of a Unicode code point.
void append_utf8(std::string& out, uint32_t code_point);

}  // namespace embed
