// Small text helpers shared by the readers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace embed {

/// Appends the UTF-8 encoding of a Unicode code point.
void append_utf8(std::string& out, uint32_t code_point);

/// Space, tab, vertical tab or form feed (not line ends).
bool is_blank(char c);

/// `text` without leading and trailing blanks.
std::string_view trim_blanks(std::string_view text);

/// A byte count in decimal units: "512.0 B", "2.5 GB".
std::string human_bytes(double bytes);

/// Two lower-case hex digits.
std::string hex_byte(uint8_t byte);

}  // namespace embed
