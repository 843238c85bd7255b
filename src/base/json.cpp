#include "base/json.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/text.h"

namespace embed::json {
namespace {

// Deeply nested input would otherwise exhaust the stack of the recursive parser.
constexpr int kMaxDepth = 256;

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    Value document() {
        Value v = value(0);
        skip_space();
        if (pos_ != text_.size()) {
            fail("unexpected text after the JSON value");
        }
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("JSON error at byte " + std::to_string(pos_) + ": " + what);
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }

    char peek() {
        skip_space();
        if (pos_ >= text_.size()) {
            fail("unexpected end of input");
        }
        return text_[pos_];
    }

    void expect(char c) {
        if (peek() != c) {
            fail(std::string("expected '") + c + "'");
        }
        ++pos_;
    }

    bool consume_literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) == word) {
            pos_ += word.size();
            return true;
        }
        return false;
    }

    Value value(int depth) {
        if (depth > kMaxDepth) {
            fail("nesting deeper than " + std::to_string(kMaxDepth));
        }
        const char c = peek();
        if (c == '{') {
            return object(depth);
        }
        if (c == '[') {
            return array(depth);
        }
        if (c == '"') {
            return Value(string());
        }
        if (consume_literal("true")) {
            return Value(true);
        }
        if (consume_literal("false")) {
            return Value(false);
        }
        if (consume_literal("null")) {
            return Value();
        }
        // Python's json module writes these for non-finite floats; configs occasionally hold them.
        if (consume_literal("NaN")) {
            return Value(std::nan(""));
        }
        if (consume_literal("Infinity")) {
            return Value(HUGE_VAL);
        }
        if (consume_literal("-Infinity")) {
            return Value(-HUGE_VAL);
        }
        return Value(number());
    }

    Value object(int depth) {
        expect('{');
        Object members;
        if (peek() == '}') {
            ++pos_;
            return Value(std::move(members));
        }
        while (true) {
            if (peek() != '"') {
                fail("expected a string key");
            }
            std::string key = string();
            expect(':');
            members.insert_or_assign(std::move(key), value(depth + 1));
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            return Value(std::move(members));
        }
    }

    Value array(int depth) {
        expect('[');
        Array items;
        if (peek() == ']') {
            ++pos_;
            return Value(std::move(items));
        }
        while (true) {
            items.push_back(value(depth + 1));
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect(']');
            return Value(std::move(items));
        }
    }

    double number() {
        const size_t start = pos_;
        if (pos_ < text_.size() && (text_[pos_] == '-' || text_[pos_] == '+')) {
            ++pos_;
        }
        while (pos_ < text_.size() &&
               (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
                text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '-' ||
                text_[pos_] == '+')) {
            ++pos_;
        }
        if (start == pos_) {
            fail("unexpected character '" + std::string(1, text_[pos_]) + "'");
        }
        const std::string token(text_.substr(start, pos_ - start));
        char* end = nullptr;
        const double d = std::strtod(token.c_str(), &end);
        if (end != token.c_str() + token.size()) {
            pos_ = start;
            fail("malformed number '" + token + "'");
        }
        return d;
    }

    unsigned hex4() {
        if (pos_ + 4 > text_.size()) {
            fail("truncated \\u escape");
        }
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9') {
                code |= static_cast<unsigned>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                code |= static_cast<unsigned>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                code |= static_cast<unsigned>(h - 'A' + 10);
            } else {
                fail("bad hex digit in \\u escape");
            }
        }
        return code;
    }

    std::string string() {
        expect('"');
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) {
                fail("unterminated string");
            }
            const char c = text_[pos_++];
            if (c == '"') {
                return out;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) {
                fail("unterminated escape");
            }
            const char e = text_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned code = hex4();
                    // A high surrogate and a low one make one code point. An unpaired half is
                    // kept as it is, as Python's json does, and the escape after it read alone.
                    if (code >= 0xD800 && code < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
                        const size_t after_high = pos_;
                        pos_ += 2;
                        const unsigned low = hex4();
                        if (low >= 0xDC00 && low < 0xE000) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        } else {
                            pos_ = after_high;
                        }
                    }
                    append_utf8(out, code);
                    break;
                }
                default: fail(std::string("unknown escape '\\") + e + "'");
            }
        }
    }

    std::string_view text_;
    size_t pos_ = 0;
};

[[noreturn]] void type_error(const char* expected, const Value& v) {
    throw std::runtime_error(std::string("JSON: expected ") + expected + ", found " +
                             v.type_name());
}

}  // namespace

bool Value::as_bool() const {
    if (!is_bool()) {
        type_error("a boolean", *this);
    }
    return std::get<bool>(data_);
}

double Value::as_number() const {
    if (!is_number()) {
        type_error("a number", *this);
    }
    return std::get<double>(data_);
}

int64_t Value::as_int() const {
    const double d = as_number();
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (d != std::floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        throw std::runtime_error("JSON: expected an integer, found " + std::to_string(d));
    }
    return static_cast<int64_t>(d);
}

const std::string& Value::as_string() const {
    if (!is_string()) {
        type_error("a string", *this);
    }
    return std::get<std::string>(data_);
}

const Array& Value::as_array() const {
    if (!is_array()) {
        type_error("an array", *this);
    }
    return *std::get<std::shared_ptr<Array>>(data_);
}

const Object& Value::as_object() const {
    if (!is_object()) {
        type_error("an object", *this);
    }
    return *std::get<std::shared_ptr<Object>>(data_);
}

const Value* Value::find(std::string_view key) const {
    if (!is_object()) {
        return nullptr;
    }
    const Object& members = as_object();
    const auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
}

const Value& Value::at(std::string_view key) const {
    const Value* v = find(key);
    if (v == nullptr) {
        throw std::runtime_error("JSON: missing key \"" + std::string(key) + "\"");
    }
    return *v;
}

const char* Value::type_name() const {
    static constexpr const char* kNames[] = {"null",   "boolean", "number",
                                             "string", "array",   "object"};
    return kNames[data_.index()];
}

Value parse(std::string_view text) {
    return Parser(text).document();
}

Value parse_file(const std::string& path) {
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

}  // namespace embed::json
