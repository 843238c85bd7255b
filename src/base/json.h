// A small JSON reader for the configuration files checkpoints ship with
// (Hugging Face config.json, safetensors headers, SeqVec options.json) and the model cards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace embed::json {

class Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value, std::less<>>;

class Value {
public:
    Value() = default;
    explicit Value(bool b) : data_(b) {}
    explicit Value(double d) : data_(d) {}
    explicit Value(std::string s) : data_(std::move(s)) {}
    explicit Value(Array a) : data_(std::make_shared<Array>(std::move(a))) {}
    explicit Value(Object o) : data_(std::make_shared<Object>(std::move(o))) {}

    bool is_null() const { return std::holds_alternative<std::monostate>(data_); }
    bool is_bool() const { return std::holds_alternative<bool>(data_); }
    bool is_number() const { return std::holds_alternative<double>(data_); }
    bool is_string() const { return std::holds_alternative<std::string>(data_); }
    bool is_array() const { return std::holds_alternative<std::shared_ptr<Array>>(data_); }
    bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(data_); }

    /// The accessors throw std::runtime_error naming the expected and the actual type.
    bool as_bool() const;
    double as_number() const;
    /// Throws unless the number is integral and fits in int64.
    int64_t as_int() const;
    const std::string& as_string() const;
    const Array& as_array() const;
    const Object& as_object() const;

    /// Member of an object, or nullptr when absent (or when this is not an object).
    const Value* find(std::string_view key) const;
    /// Member of an object; throws naming the key when absent.
    const Value& at(std::string_view key) const;

    /// "null", "boolean", "number", "string", "array" or "object".
    const char* type_name() const;

private:
    std::variant<std::monostate, bool, double, std::string, std::shared_ptr<Array>,
                 std::shared_ptr<Object>>
        data_;
};

/// Parses one JSON document; throws std::runtime_error with the byte offset of the problem.
Value parse(std::string_view text);

/// Reads and parses a file; errors name the file.
Value parse_file(const std::string& path);

}  // namespace embed::json
