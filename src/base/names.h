// The names of an enum's values, listed once (future folder: base/). A flag's allowed values on
// the command line, the library's parsing of them and the names written to files all come
// from the one table beside each enum.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/errors.h"

namespace embed {

template <typename Value>
struct Named {
    const char* name;
    Value value;
};

template <typename Value, size_t N>
using NameTable = std::array<Named<Value>, N>;

template <typename Value, size_t N>
std::optional<Value> find_named(const NameTable<Value, N>& table, std::string_view name) {
    for (const Named<Value>& entry : table) {
        if (name == entry.name) {
            return entry.value;
        }
    }
    return std::nullopt;
}

/// The name of `value`; every value a table's enum takes is in it.
template <typename Value, size_t N>
const char* name_of(const NameTable<Value, N>& table, Value value) {
    for (const Named<Value>& entry : table) {
        if (entry.value == value) {
            return entry.name;
        }
    }
    throw std::logic_error("a value without a name in its table");
}

/// "a, b, c"
template <typename Value, size_t N>
std::string names_of(const NameTable<Value, N>& table) {
    std::string out;
    for (const Named<Value>& entry : table) {
        out += (out.empty() ? "" : ", ") + std::string(entry.name);
    }
    return out;
}

/// What is wrong with `name` as a value of `table`: "'x' is not one of a, b, c".
template <typename Value, size_t N>
std::string not_one_of(const NameTable<Value, N>& table, std::string_view name) {
    return "'" + std::string(name) + "' is not one of " + names_of(table);
}

/// The value named `name`; throws BadInput "FLAG: 'x' is not one of a, b, c" otherwise.
template <typename Value, size_t N>
Value parse_named(const NameTable<Value, N>& table, std::string_view flag, std::string_view name) {
    if (const std::optional<Value> value = find_named(table, name)) {
        return *value;
    }
    throw BadInput(std::string(flag) + ": " + not_one_of(table, name));
}

}  // namespace embed
