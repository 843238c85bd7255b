// JSON documents are nlohmann::json. This reads them for the configuration files checkpoints
// ship with (Hugging Face config.json, safetensors headers, SeqVec options.json) and the model
// cards, adding what the library leaves out: Python's json extensions (which those files may
// hold), a nesting limit for hostile files, and typed reads whose errors are
// std::runtime_error naming the key or the types, never the library's own exceptions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace embed::json {

/// Containers deeper than this are an error (hostile input; no real configuration comes close).
constexpr int kMaxDepth = 256;

/// Parses one JSON document. Also accepts what Python's json module writes beyond the
/// standard: NaN, Infinity and -Infinity, and \u escapes of unpaired surrogates (kept as their
/// three-byte encoding). Throws std::runtime_error saying where and what the problem is.
nlohmann::json parse(std::string_view text);

/// Reads and parses a file; errors name the file.
nlohmann::json parse_file(const std::string& path);

/// Member of an object, or nullptr when absent (or when `object` is not an object).
const nlohmann::json* find(const nlohmann::json& object, std::string_view key);
/// Member of an object; throws naming the key when absent.
const nlohmann::json& at(const nlohmann::json& object, std::string_view key);

/// Typed reads; they throw std::runtime_error naming the expected and the actual type.
bool as_bool(const nlohmann::json& value);
double as_number(const nlohmann::json& value);
/// Throws unless the number is integral and fits in int64.
int64_t as_int(const nlohmann::json& value);
const std::string& as_string(const nlohmann::json& value);
const nlohmann::json::array_t& as_array(const nlohmann::json& value);
const nlohmann::json::object_t& as_object(const nlohmann::json& value);

}  // namespace embed::json
