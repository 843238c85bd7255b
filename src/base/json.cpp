#include "base/json.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "base/text.h"

namespace embed::json {
namespace {

using Json = nlohmann::json;

// nlohmann refuses what Python's json module writes beyond the standard, so parse() rewrites it
// into strings that carry this mark (U+10FFFF, a noncharacter no configuration holds) and
// restores it from the parsed values: NaN and the infinities become the mark and their word, an
// unpaired surrogate escape the mark and its four hex digits, and a mark in the text two marks.
constexpr std::string_view kMark = "\xF4\x8F\xBF\xBF";
constexpr std::string_view kMarkEscape = "\\uDBFF\\uDFFF";
constexpr std::string_view kPythonWords[] = {"NaN", "Infinity", "-Infinity"};

std::optional<unsigned> hex4(std::string_view text, size_t pos) {
    if (pos + 4 > text.size()) {
        return std::nullopt;
    }
    unsigned code = 0;
    for (size_t i = pos; i < pos + 4; ++i) {
        const char h = text[i];
        code <<= 4;
        if (h >= '0' && h <= '9') {
            code |= static_cast<unsigned>(h - '0');
        } else if (h >= 'a' && h <= 'f') {
            code |= static_cast<unsigned>(h - 'a' + 10);
        } else if (h >= 'A' && h <= 'F') {
            code |= static_cast<unsigned>(h - 'A' + 10);
        } else {
            return std::nullopt;
        }
    }
    return code;
}

bool is_high_surrogate(unsigned code) {
    return code >= 0xD800 && code < 0xDC00;
}

bool is_low_surrogate(unsigned code) {
    return code >= 0xDC00 && code < 0xE000;
}

// The text with Python's extensions marked (see kMark), or nothing when it has none. Only
// string boundaries and escapes are followed; the syntax is nlohmann's to check.
std::optional<std::string> mark_python_extensions(std::string_view text) {
    std::string out;
    size_t copied = 0;  // text[0, copied) is in `out`
    bool changed = false;
    const auto replace = [&](size_t at, size_t length, const std::string& with) {
        out.append(text.substr(copied, at - copied));
        out += with;
        copied = at + length;
        changed = true;
    };
    const std::string doubled_mark = std::string(kMarkEscape) + std::string(kMarkEscape);
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        if (!in_string) {
            if (text[i] == '"') {
                in_string = true;
                continue;
            }
            for (const std::string_view word : kPythonWords) {
                if (text.substr(i, word.size()) == word) {
                    replace(i, word.size(),
                            '"' + std::string(kMarkEscape) + std::string(word) + '"');
                    i += word.size() - 1;
                    break;
                }
            }
            continue;
        }
        if (text[i] == '"') {
            in_string = false;
        } else if (text.substr(i, kMark.size()) == kMark) {
            replace(i, kMark.size(), doubled_mark);
            i += kMark.size() - 1;
        } else if (text[i] == '\\' && text.substr(i + 1, 1) == "u") {
            const std::optional<unsigned> code = hex4(text, i + 2);
            if (!code) {
                continue;  // nlohmann reports the bad escape
            }
            if (is_high_surrogate(*code) && text.substr(i + 6, 2) == "\\u") {
                const std::optional<unsigned> low = hex4(text, i + 8);
                if (low && is_low_surrogate(*low)) {
                    if (*code == 0xDBFF && *low == 0xDFFF) {
                        replace(i, 12, doubled_mark);  // an escaped U+10FFFF
                    }
                    i += 11;
                    continue;
                }
            }
            if (is_high_surrogate(*code) || is_low_surrogate(*code)) {
                // Upper case, so that equal code points make equal keys.
                static constexpr char kHex[] = "0123456789ABCDEF";
                std::string digits;
                for (int shift = 12; shift >= 0; shift -= 4) {
                    digits += kHex[(*code >> shift) & 0xF];
                }
                replace(i, 6, std::string(kMarkEscape) + digits);
            }
            i += 5;
        } else if (text[i] == '\\') {
            ++i;  // the escaped character, which may be a quote
        }
    }
    if (!changed) {
        return std::nullopt;
    }
    out.append(text.substr(copied));
    return out;
}

// A marked string as the text had it: surrogates as their three-byte encoding.
std::string unmarked(const std::string& marked) {
    std::string out;
    size_t pos = 0;
    for (size_t mark; (mark = marked.find(kMark, pos)) != std::string::npos;) {
        out.append(marked, pos, mark - pos);
        pos = mark + kMark.size();
        if (marked.compare(pos, kMark.size(), kMark) == 0) {
            out += kMark;
            pos += kMark.size();
        } else if (const std::optional<unsigned> code = hex4(marked, pos)) {
            append_utf8(out, *code);
            pos += 4;
        } else {
            // A Python word, which stands only where a value does.
            throw std::runtime_error("JSON error: expected a string key, found " +
                                     marked.substr(pos));
        }
    }
    out.append(marked, pos, std::string::npos);
    return out;
}

void unmark_value(Json& value) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find(kMark) == std::string::npos) {
        return;
    }
    const std::string_view rest = std::string_view(text).substr(kMark.size());
    if (rest == "NaN") {
        value = std::numeric_limits<double>::quiet_NaN();
    } else if (rest == "Infinity") {
        value = std::numeric_limits<double>::infinity();
    } else if (rest == "-Infinity") {
        value = -std::numeric_limits<double>::infinity();
    } else {
        value = unmarked(text);
    }
}

void unmark_keys(Json& object) {
    Json::object_t& members = object.get_ref<Json::object_t&>();
    std::vector<Json::object_t::node_type> marked;
    for (auto it = members.begin(); it != members.end();) {
        if (it->first.find(kMark) == std::string::npos) {
            ++it;
        } else {
            marked.push_back(members.extract(it++));
        }
    }
    for (Json::object_t::node_type& member : marked) {
        member.key() = unmarked(member.key());
        members.insert(std::move(member));
    }
}

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at ...".
std::string reason(const Json::exception& e) {
    std::string_view what = e.what();
    if (const size_t end = what.find("] "); !what.empty() && what[0] == '[' && end != what.npos) {
        what.remove_prefix(end + 2);
    }
    constexpr std::string_view kParseError = "parse error";
    if (what.substr(0, kParseError.size()) == kParseError) {
        what.remove_prefix(kParseError.size());
    } else {
        return "JSON error: " + std::string(what);
    }
    return "JSON error" + std::string(what);
}

[[noreturn]] void type_error(const char* expected, const Json& value) {
    throw std::runtime_error(std::string("JSON: expected ") + expected + ", found " +
                             value.type_name());
}

}  // namespace

Json parse(std::string_view text) {
    const std::optional<std::string> standard = mark_python_extensions(text);
    const bool marked = standard.has_value();
    // nlohmann's parser keeps its own stack, but copying or printing a document recurses.
    const Json::parser_callback_t callback = [marked](int depth, Json::parse_event_t event,
                                                      Json& parsed) {
        if ((event == Json::parse_event_t::object_start ||
             event == Json::parse_event_t::array_start) &&
            depth > kMaxDepth) {
            throw std::runtime_error("JSON error: nesting deeper than " +
                                     std::to_string(kMaxDepth));
        }
        if (marked && event == Json::parse_event_t::value && parsed.is_string()) {
            unmark_value(parsed);
        }
        if (marked && event == Json::parse_event_t::object_end) {
            unmark_keys(parsed);
        }
        return true;
    };
    try {
        return Json::parse(marked ? std::string_view(*standard) : text, callback);
    } catch (const Json::exception& e) {
        throw std::runtime_error(reason(e));
    }
}

Json parse_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path + ": cannot open");
    }
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return parse(text.str());
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

const Json* find(const Json& object, std::string_view key) {
    if (!object.is_object()) {
        return nullptr;
    }
    const Json::object_t& members = object.get_ref<const Json::object_t&>();
    const auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
}

const Json& at(const Json& object, std::string_view key) {
    const Json* value = find(object, key);
    if (value == nullptr) {
        throw std::runtime_error("JSON: missing key \"" + std::string(key) + "\"");
    }
    return *value;
}

bool as_bool(const Json& value) {
    if (!value.is_boolean()) {
        type_error("a boolean", value);
    }
    return value.get<bool>();
}

double as_number(const Json& value) {
    if (!value.is_number()) {
        type_error("a number", value);
    }
    return value.get<double>();
}

int64_t as_int(const Json& value) {
    if (value.is_number_unsigned()) {
        const auto u = value.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            throw std::runtime_error("JSON: expected an integer, found " + std::to_string(u));
        }
        return static_cast<int64_t>(u);
    }
    if (value.is_number_integer()) {
        return value.get<int64_t>();
    }
    const double d = as_number(value);
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (d != std::floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        throw std::runtime_error("JSON: expected an integer, found " + std::to_string(d));
    }
    return static_cast<int64_t>(d);
}

const std::string& as_string(const Json& value) {
    if (!value.is_string()) {
        type_error("a string", value);
    }
    return value.get_ref<const std::string&>();
}

const Json::array_t& as_array(const Json& value) {
    if (!value.is_array()) {
        type_error("an array", value);
    }
    return value.get_ref<const Json::array_t&>();
}

const Json::object_t& as_object(const Json& value) {
    if (!value.is_object()) {
        type_error("an object", value);
    }
    return value.get_ref<const Json::object_t&>();
}

}  // namespace embed::json
