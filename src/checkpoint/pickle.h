// A safe reader for Python pickles as torch.save writes them. It interprets data opcodes only:
// classes it does not know become plain Object values, and nothing is ever executed, so
// checkpoints holding argparse.Namespace, omegaconf or numpy objects load without Python.
// Its values are plain data: it needs no LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "checkpoint/state_dict.h"

namespace embed::pickle {

struct List;
struct Dict;
struct Object;

/// A reference to a Python global (module + name), e.g. `torch._utils._rebuild_tensor_v2`.
struct Global {
    std::string module;
    std::string name;
    std::string qualified() const { return module + "." + name; }
};

struct None {};
struct Bytes {
    std::string data;
};

/// A tensor as torch.save pickles it (torch._utils._rebuild_tensor_v2): a view, in elements,
/// on the storage that the persistent_load hook returned as `storage`. The torch.save reader
/// makes LibTorch tensors of these.
struct TensorView {
    const Object* storage = nullptr;
    int64_t storage_offset = 0;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
};

/// One unpickled value. Containers point into the Document that owns them, so values are cheap
/// to copy and valid as long as their Document lives.
class Value {
public:
    using Storage = std::variant<None, bool, int64_t, double, std::string, Bytes, List*, Dict*,
                                 Object*, Global, TensorView>;

    Value() = default;
    template <typename T>
    Value(T v) : data_(std::move(v)) {}  // NOLINT(google-explicit-constructor): a variant

    template <typename T>
    bool is() const {
        return std::holds_alternative<T>(data_);
    }
    template <typename T>
    const T* get_if() const {
        return std::get_if<T>(&data_);
    }

    bool is_none() const { return is<None>(); }
    /// Accessors throw std::runtime_error naming the expected and actual kinds.
    bool as_bool() const;
    int64_t as_int() const;
    /// Ints are accepted too (Python configs mix 1 and 1.0).
    double as_double() const;
    const std::string& as_string() const;
    const List& as_list() const;  // lists, tuples and sets
    const Dict& as_dict() const;
    const Object& as_object() const;
    const TensorView& as_tensor() const;

    /// Member `key` of a dict with string keys, or attribute `key` of an object (the state
    /// BUILD gave it, as for argparse.Namespace); nullptr when absent or not a container.
    const Value* member(std::string_view key) const;

    /// "None", "int", "dict", "argparse.Namespace", ...
    std::string kind_name() const;

private:
    Storage data_;
};

struct List {
    enum class Kind { list, tuple, set };
    Kind kind = Kind::list;
    std::vector<Value> items;
};

struct Dict {
    std::vector<std::pair<Value, Value>> items;
    /// Entry with a string key, or nullptr.
    const Value* find(std::string_view key) const;
};

/// An instance of a class this reader does not interpret: the class, the arguments it was
/// constructed or reduced with, the state BUILD gave it, and items set on it (dict subclasses).
struct Object {
    Global cls;
    std::vector<Value> args;
    Value state;
    Dict items;
};

/// Owns every container of one unpickled stream.
class Document {
public:
    Value root;

    List* new_list(List::Kind kind);
    Dict* new_dict();
    Object* new_object(Global cls);

private:
    // Containers are owned here, not by their parents: values can reference each other
    // (memo) without ownership cycles, and freeing deeply nested input cannot overflow the stack.
    std::vector<std::unique_ptr<List>> lists_;
    std::vector<std::unique_ptr<Dict>> dicts_;
    std::vector<std::unique_ptr<Object>> objects_;
};

/// Hooks that give meaning to parts of a stream; the torch.save reader supplies them.
struct Hooks {
    /// Resolves a persistent id (BINPERSID), e.g. a storage in a torch zip archive.
    std::function<Value(const Value& pid)> persistent_load;
    /// Called for REDUCE/NEWOBJ of a global; return nullopt to keep the generic Object.
    std::function<std::optional<Value>(Document&, const Global&, const std::vector<Value>& args)>
        reduce;
};

/// Unpickles one stream; `source` names the file in errors. Throws std::runtime_error on
/// malformed or truncated input and on opcodes that would need code execution.
void unpickle(std::string_view bytes, const Hooks& hooks, const std::string& source, Document& out);

}  // namespace embed::pickle
