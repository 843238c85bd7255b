#include "checkpoint/pickle.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "base/errors.h"
#include "base/text.h"

namespace embed::pickle {
namespace {

[[noreturn]] void kind_error(const char* expected, const Value& v) {
    throw std::runtime_error(std::string("pickle: expected ") + expected + ", found " +
                             v.kind_name());
}

// Opcodes by their names in CPython's pickle.py.
enum Opcode : uint8_t {
    ADDITEMS = 0x90,
    APPEND = 'a',
    APPENDS = 'e',
    BINBYTES = 'B',
    BINBYTES8 = 0x8e,
    BINFLOAT = 'G',
    BINGET = 'h',
    BININT = 'J',
    BININT1 = 'K',
    BININT2 = 'M',
    BINPERSID = 'Q',
    BINPUT = 'q',
    BINSTRING = 'T',
    BINUNICODE = 'X',
    BINUNICODE8 = 0x8d,
    BUILD = 'b',
    BYTEARRAY8 = 0x96,
    DICT = 'd',
    DUP = '2',
    EMPTY_DICT = '}',
    EMPTY_LIST = ']',
    EMPTY_SET = 0x8f,
    EMPTY_TUPLE = ')',
    EXT1 = 0x82,
    EXT2 = 0x83,
    EXT4 = 0x84,
    FLOAT = 'F',
    FRAME = 0x95,
    FROZENSET = 0x91,
    GET = 'g',
    GLOBAL = 'c',
    INST = 'i',
    INT = 'I',
    LIST = 'l',
    LONG = 'L',
    LONG1 = 0x8a,
    LONG4 = 0x8b,
    LONG_BINGET = 'j',
    LONG_BINPUT = 'r',
    MARK = '(',
    MEMOIZE = 0x94,
    NEWFALSE = 0x89,
    NEWOBJ = 0x81,
    NEWOBJ_EX = 0x92,
    NEWTRUE = 0x88,
    NEXT_BUFFER = 0x97,
    NONE = 'N',
    OBJ = 'o',
    PERSID = 'P',
    POP = '0',
    POP_MARK = '1',
    PROTO = 0x80,
    PUT = 'p',
    READONLY_BUFFER = 0x98,
    REDUCE = 'R',
    SETITEM = 's',
    SETITEMS = 'u',
    SHORT_BINBYTES = 'C',
    SHORT_BINSTRING = 'U',
    SHORT_BINUNICODE = 0x8c,
    STACK_GLOBAL = 0x93,
    STOP = '.',
    STRING = 'S',
    TUPLE = 't',
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    UNICODE = 'V',
};

// Pickled Python ints wider than this many bytes are kept only approximately (as a double).
constexpr size_t kMaxExactIntBytes = 8;

// Everything a stream makes is charged against one budget: every value it pushes, every
// container, every string and every copy (DUP, memo GETs, list(x), dict(x)). One byte of opcode
// makes a container of about 150 bytes, and two bytes copy a long string once more, so without
// it a 10 MB file of empty lists took 2.7 GB and a 1 MB file could ask for terabytes. The fixed
// part covers the values of real checkpoints: torch.save's pickle of a state dict makes about
// 45 bytes of values per byte, some 130 bytes of pickle a tensor (estimated from the ESM
// fixtures), so 32 MB holds over 5,000 tensors (ESM-2 15B has about 830). The part per byte lets
// large pickles of strings and bytes through.
constexpr uint64_t kValueBudgetBytes = uint64_t{32} << 20;
constexpr uint64_t kValueBudgetPerInputByte = 4;
// What the allocator and the Document's list of owners add to each container.
constexpr uint64_t kContainerOverheadBytes = 32;
// A memo entry's node in the hash map, beyond its value.
constexpr uint64_t kMemoEntryOverheadBytes = 32;

class Unpickler {
public:
    Unpickler(std::string_view bytes, const Hooks& hooks, const std::string& source, Document& doc)
        : in_(bytes),
          hooks_(hooks),
          source_(source),
          doc_(doc),
          budget_(kValueBudgetBytes + kValueBudgetPerInputByte * bytes.size()),
          budget_left_(budget_) {}

    Value run() {
        while (true) {
            const size_t op_offset = pos_;
            const auto op = static_cast<uint8_t>(byte());
            if (op == STOP) {
                return pop(op_offset);
            }
            try {
                step(op, op_offset);
            } catch (const FileError&) {
                throw;  // fail()'s, or a hook's that names its file
            } catch (const std::runtime_error& e) {
                // The accessors' errors (a persistent id that is not a tuple) do not say where
                // they happened.
                fail(op_offset, e.what());
            }
        }
    }

private:
    [[noreturn]] void fail(size_t offset, const std::string& what) const {
        throw FileError(Location{source_, 0, "pickle error", offset}, what);
    }

    char byte() {
        if (pos_ >= in_.size()) {
            fail(pos_, "truncated (no STOP opcode)");
        }
        return in_[pos_++];
    }

    std::string_view take(uint64_t n) {
        if (n > in_.size() - pos_) {
            fail(pos_, "truncated: needs " + std::to_string(n) + " bytes, " +
                           std::to_string(in_.size() - pos_) + " left");
        }
        const std::string_view out = in_.substr(pos_, n);
        pos_ += n;
        return out;
    }

    uint64_t little_endian(size_t n) {
        const std::string_view raw = take(n);
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) {
            v |= uint64_t{static_cast<uint8_t>(raw[i])} << (8 * i);
        }
        return v;
    }

    std::string_view line() {
        const size_t end = in_.find('\n', pos_);
        if (end == std::string_view::npos) {
            fail(pos_, "truncated text line");
        }
        const std::string_view out = in_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return out;
    }

    // What `v` takes in memory: itself, and the characters of a string.
    static uint64_t footprint(const Value& v) {
        uint64_t bytes = sizeof(Value);
        if (const std::string* s = v.get_if<std::string>()) {
            bytes += s->size();
        } else if (const Bytes* b = v.get_if<Bytes>()) {
            bytes += b->data.size();
        }
        return bytes;
    }

    // A new value on the stack.
    void push(Value v, size_t at) {
        charge(footprint(v), at, "makes values");
        stack_.push_back(std::move(v));
    }

    // A copy of `v` (strings and bytes deeply, containers by reference) on the stack.
    void push_copy(const Value& v, size_t at) {
        Value duplicate = copy(v, at);
        stack_.push_back(std::move(duplicate));
    }

    Value copy(const Value& v, size_t at) {
        charge(footprint(v), at, "copies its own values");
        return v;
    }

    std::vector<Value> copy(const std::vector<Value>& items, size_t at) {
        std::vector<Value> out;
        out.reserve(items.size());
        for (const Value& item : items) {
            out.push_back(copy(item, at));
        }
        return out;
    }

    List* new_list(List::Kind kind, size_t at) {
        charge(sizeof(List) + kContainerOverheadBytes, at, "makes values");
        return doc_.new_list(kind);
    }

    Dict* new_dict(size_t at) {
        charge(sizeof(Dict) + kContainerOverheadBytes, at, "makes values");
        return doc_.new_dict();
    }

    Object* new_object(Global cls, size_t at) {
        charge(sizeof(Object) + kContainerOverheadBytes, at, "makes values");
        return doc_.new_object(std::move(cls));
    }

    // Charges are never refunded (a popped value's memory may be reused): the budget bounds
    // everything a stream makes, which is more than it holds at any time. `how`: what the
    // stream was doing when the budget ran out.
    void charge(uint64_t bytes, size_t at, const char* how) {
        if (bytes > budget_left_) {
            fail(at, std::string("the stream ") + how + " beyond " + std::to_string(budget_) +
                         " bytes (" + std::to_string(kValueBudgetBytes >> 20) + " MB and " +
                         std::to_string(kValueBudgetPerInputByte) + " per byte of the " +
                         std::to_string(in_.size()) +
                         "-byte stream); the file is corrupted or not a checkpoint");
        }
        budget_left_ -= bytes;
    }

    Value pop(size_t at) {
        if (stack_.size() <= frame_start()) {
            fail(at, "stack underflow");
        }
        Value v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }

    Value& top(size_t at) {
        if (stack_.size() <= frame_start()) {
            fail(at, "stack underflow");
        }
        return stack_.back();
    }

    size_t frame_start() const { return marks_.empty() ? 0 : marks_.back(); }

    // Everything pushed since the last MARK, which is removed.
    std::vector<Value> pop_mark(size_t at) {
        if (marks_.empty()) {
            fail(at, "MARK expected");
        }
        const size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<Value> items(std::make_move_iterator(stack_.begin() + mark),
                                 std::make_move_iterator(stack_.end()));
        stack_.resize(mark);
        return items;
    }

    Value tuple(std::vector<Value> items, size_t at) {
        List* t = new_list(List::Kind::tuple, at);
        t->items = std::move(items);
        return t;
    }

    void memo_put(uint64_t index, size_t at) {
        charge(kMemoEntryOverheadBytes, at, "makes values");
        memo_[index] = copy(top(at), at);
    }

    const Value& memo_get(uint64_t index, size_t at) const {
        const auto it = memo_.find(index);
        if (it == memo_.end()) {
            fail(at, "memo key " + std::to_string(index) + " not defined");
        }
        return it->second;
    }

    static Value signed_int(std::string_view raw) {
        if (raw.empty()) {
            return int64_t{0};
        }
        if (raw.size() > kMaxExactIntBytes) {
            double v = 0;
            for (size_t i = raw.size(); i-- > 0;) {
                v = v * 256 + static_cast<uint8_t>(raw[i]);
            }
            if (static_cast<uint8_t>(raw.back()) & 0x80) {
                v -= std::ldexp(1.0, static_cast<int>(8 * raw.size()));
            }
            return v;
        }
        uint64_t u = 0;
        for (size_t i = 0; i < raw.size(); ++i) {
            u |= uint64_t{static_cast<uint8_t>(raw[i])} << (8 * i);
        }
        if (raw.size() < 8 && (static_cast<uint8_t>(raw.back()) & 0x80)) {
            u |= ~uint64_t{0} << (8 * raw.size());  // sign-extend
        }
        return static_cast<int64_t>(u);
    }

    Value text_int(std::string_view text, size_t at) {
        if (text == "00") {
            return false;
        }
        if (text == "01") {
            return true;
        }
        if (!text.empty() && text.back() == 'L') {
            text.remove_suffix(1);
        }
        try {
            size_t used = 0;
            const std::string s(text);
            const long long v = std::stoll(s, &used);
            if (used != s.size()) {
                fail(at, "malformed integer '" + s + "'");
            }
            return static_cast<int64_t>(v);
        } catch (const std::out_of_range&) {
            return std::strtod(std::string(text).c_str(), nullptr);
        } catch (const std::invalid_argument&) {
            fail(at, "malformed integer '" + std::string(text) + "'");
        }
    }

    // Protocol-0 UNICODE text is "raw-unicode-escape": Latin-1 bytes, with \uXXXX and
    // \UXXXXXXXX for the rest. Strings are kept as UTF-8.
    std::string raw_unicode_escape(std::string_view text, size_t at) {
        std::string out;
        for (size_t i = 0; i < text.size(); ++i) {
            const bool escape = text[i] == '\\' && i + 1 < text.size() &&
                                (text[i + 1] == 'u' || text[i + 1] == 'U');
            if (!escape) {
                append_utf8(out, static_cast<uint8_t>(text[i]));
                continue;
            }
            const size_t digits = text[i + 1] == 'u' ? 4 : 8;
            if (i + 2 + digits > text.size()) {
                fail(at, "truncated \\u escape");
            }
            const std::string hex(text.substr(i + 2, digits));
            char* end = nullptr;
            const unsigned long code = std::strtoul(hex.c_str(), &end, 16);
            if (end != hex.c_str() + hex.size() || code > 0x10FFFF) {
                fail(at, "bad \\u escape");
            }
            append_utf8(out, static_cast<uint32_t>(code));
            i += 1 + digits;
        }
        return out;
    }

    // Python-2 style quoted string from the text protocol: strip quotes, keep it verbatim.
    std::string quoted(std::string_view text, size_t at) {
        if (text.size() < 2 || (text.front() != '\'' && text.front() != '"') ||
            text.back() != text.front()) {
            fail(at, "malformed quoted string");
        }
        return std::string(text.substr(1, text.size() - 2));
    }

    Global global_from(const Value& module, const Value& name, size_t at) {
        if (!module.is<std::string>() || !name.is<std::string>()) {
            fail(at, "STACK_GLOBAL needs two strings");
        }
        return Global{module.as_string(), name.as_string()};
    }

    // Python builtins that are plain data; everything else is the hooks' business or an Object.
    std::optional<Value> builtin_reduce(const Global& g, const std::vector<Value>& args,
                                        size_t at) {
        const std::string q = g.qualified();
        if (q == "collections.OrderedDict" || q == "builtins.dict" || q == "__builtin__.dict") {
            Dict* d = new_dict(at);
            if (!args.empty() && args[0].is<List*>()) {
                for (const Value& pair : args[0].as_list().items) {
                    const auto& kv = pair.as_list().items;
                    if (kv.size() == 2) {
                        d->items.emplace_back(copy(kv[0], at), copy(kv[1], at));
                    }
                }
            }
            return Value(d);
        }
        if (q == "builtins.set" || q == "__builtin__.set" || q == "builtins.frozenset" ||
            q == "builtins.list" || q == "__builtin__.list") {
            List* l = new_list(
                q.find("list") != std::string::npos ? List::Kind::list : List::Kind::set, at);
            if (!args.empty() && args[0].is<List*>()) {
                l->items = copy(args[0].as_list().items, at);
            }
            return Value(l);
        }
        if ((q == "copy_reg._reconstructor" || q == "copyreg._reconstructor") && !args.empty() &&
            args[0].is<Global>()) {
            // Protocols 0 and 1 build plain instances (argparse.Namespace) this way.
            return Value(new_object(*args[0].get_if<Global>(), at));
        }
        if (q == "_codecs.encode" && !args.empty() && args[0].is<std::string>()) {
            // Protocol-2 pickles of Python-3 bytes: _codecs.encode(text, 'latin1').
            std::string out;
            const std::string& text = args[0].as_string();
            for (size_t i = 0; i < text.size(); ++i) {
                const auto c = static_cast<uint8_t>(text[i]);
                if (c < 0x80) {
                    out += static_cast<char>(c);
                } else if (i + 1 < text.size()) {  // two-byte UTF-8 sequence for U+0080..U+00FF
                    out += static_cast<char>(((c & 0x1F) << 6) |
                                             (static_cast<uint8_t>(text[++i]) & 0x3F));
                }
            }
            return Value(Bytes{std::move(out)});
        }
        return std::nullopt;
    }

    Value reduce(const Value& callable, std::vector<Value> args, size_t at) {
        const Global* g = callable.get_if<Global>();
        if (g == nullptr) {
            fail(at, "REDUCE of a non-global (" + callable.kind_name() + ")");
        }
        if (std::optional<Value> v = builtin_reduce(*g, args, at)) {
            return *v;
        }
        if (hooks_.reduce) {
            if (std::optional<Value> v = hooks_.reduce(doc_, *g, args)) {
                return *v;
            }
        }
        Object* o = new_object(*g, at);
        o->args = std::move(args);
        return o;
    }

    void set_items(Value& target, std::vector<Value> flat, size_t at) {
        if (flat.size() % 2 != 0) {
            fail(at, "SETITEMS with an odd number of values");
        }
        Dict* d = nullptr;
        if (Dict* const* dict = target.get_if<Dict*>()) {
            d = *dict;
        } else if (Object* const* object = target.get_if<Object*>()) {
            d = &(*object)->items;
        } else {
            fail(at, "SETITEM on " + target.kind_name());
        }
        for (size_t i = 0; i < flat.size(); i += 2) {
            d->items.emplace_back(std::move(flat[i]), std::move(flat[i + 1]));
        }
    }

    void append(Value& target, std::vector<Value> items, size_t at) {
        if (List* const* list = target.get_if<List*>()) {
            for (Value& v : items) {
                (*list)->items.push_back(std::move(v));
            }
        } else if (Object* const* object = target.get_if<Object*>()) {
            // list subclasses: keep the items as the object's arguments
            for (Value& v : items) {
                (*object)->args.push_back(std::move(v));
            }
        } else {
            fail(at, "APPEND on " + target.kind_name());
        }
    }

    void step(uint8_t op, size_t at) {
        switch (op) {
            case PROTO: byte(); break;
            case FRAME: take(8); break;  // framing is irrelevant for an in-memory read
            case MARK:
                charge(sizeof(size_t), at, "makes values");
                marks_.push_back(stack_.size());
                break;
            case POP: pop(at); break;
            case POP_MARK: pop_mark(at); break;
            case DUP: push_copy(top(at), at); break;
            case NONE: push(None{}, at); break;
            case NEWTRUE: push(true, at); break;
            case NEWFALSE: push(false, at); break;
            case INT:
            case LONG: push(text_int(line(), at), at); break;
            case BININT:
                push(static_cast<int64_t>(static_cast<int32_t>(little_endian(4))), at);
                break;
            case BININT1: push(static_cast<int64_t>(little_endian(1)), at); break;
            case BININT2: push(static_cast<int64_t>(little_endian(2)), at); break;
            case LONG1: push(signed_int(take(little_endian(1))), at); break;
            case LONG4: push(signed_int(take(little_endian(4))), at); break;
            case FLOAT: {
                const std::string text(line());
                push(std::strtod(text.c_str(), nullptr), at);
                break;
            }
            case BINFLOAT: {
                const uint64_t be = [&] {
                    const std::string_view raw = take(8);
                    uint64_t v = 0;
                    for (char c : raw) {
                        v = (v << 8) | static_cast<uint8_t>(c);
                    }
                    return v;
                }();
                double d;
                std::memcpy(&d, &be, sizeof d);
                push(d, at);
                break;
            }
            case STRING: push(quoted(line(), at), at); break;
            case UNICODE: push(raw_unicode_escape(line(), at), at); break;
            case BINSTRING: push(std::string(take(little_endian(4))), at); break;
            case SHORT_BINSTRING: push(std::string(take(little_endian(1))), at); break;
            case BINUNICODE: push(std::string(take(little_endian(4))), at); break;
            case SHORT_BINUNICODE: push(std::string(take(little_endian(1))), at); break;
            case BINUNICODE8: push(std::string(take(little_endian(8))), at); break;
            case BINBYTES: push(Bytes{std::string(take(little_endian(4)))}, at); break;
            case SHORT_BINBYTES: push(Bytes{std::string(take(little_endian(1)))}, at); break;
            case BINBYTES8: push(Bytes{std::string(take(little_endian(8)))}, at); break;
            case BYTEARRAY8: push(Bytes{std::string(take(little_endian(8)))}, at); break;
            case EMPTY_LIST: push(new_list(List::Kind::list, at), at); break;
            case EMPTY_TUPLE: push(tuple({}, at), at); break;
            case EMPTY_DICT: push(new_dict(at), at); break;
            case EMPTY_SET: push(new_list(List::Kind::set, at), at); break;
            case LIST: {
                List* l = new_list(List::Kind::list, at);
                l->items = pop_mark(at);
                push(l, at);
                break;
            }
            case TUPLE: push(tuple(pop_mark(at), at), at); break;
            case FROZENSET: {
                List* s = new_list(List::Kind::set, at);
                s->items = pop_mark(at);
                push(s, at);
                break;
            }
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                const size_t n = op - TUPLE1 + 1;
                if (stack_.size() < frame_start() + n) {
                    fail(at, "stack underflow");
                }
                std::vector<Value> items(std::make_move_iterator(stack_.end() - n),
                                         std::make_move_iterator(stack_.end()));
                stack_.resize(stack_.size() - n);
                push(tuple(std::move(items), at), at);
                break;
            }
            case DICT: {
                Value d = new_dict(at);
                set_items(d, pop_mark(at), at);
                push(d, at);
                break;
            }
            case APPEND: {
                Value item = pop(at);
                append(top(at), {std::move(item)}, at);
                break;
            }
            case APPENDS: {
                std::vector<Value> items = pop_mark(at);
                append(top(at), std::move(items), at);
                break;
            }
            case ADDITEMS: {
                std::vector<Value> items = pop_mark(at);
                append(top(at), std::move(items), at);
                break;
            }
            case SETITEM: {
                Value value = pop(at);
                Value key = pop(at);
                set_items(top(at), {std::move(key), std::move(value)}, at);
                break;
            }
            case SETITEMS: {
                std::vector<Value> flat = pop_mark(at);
                set_items(top(at), std::move(flat), at);
                break;
            }
            case PUT: {
                const std::string text(line());
                memo_put(std::strtoull(text.c_str(), nullptr, 10), at);
                break;
            }
            case BINPUT: memo_put(little_endian(1), at); break;
            case LONG_BINPUT: memo_put(little_endian(4), at); break;
            case MEMOIZE: memo_put(memo_.size(), at); break;
            case GET: {
                const std::string text(line());
                push_copy(memo_get(std::strtoull(text.c_str(), nullptr, 10), at), at);
                break;
            }
            case BINGET: push_copy(memo_get(little_endian(1), at), at); break;
            case LONG_BINGET: push_copy(memo_get(little_endian(4), at), at); break;
            case GLOBAL: {
                std::string module(line());
                std::string name(line());
                push(Global{std::move(module), std::move(name)}, at);
                break;
            }
            case STACK_GLOBAL: {
                Value name = pop(at);
                Value module = pop(at);
                push(global_from(module, name, at), at);
                break;
            }
            case REDUCE: {
                Value args = pop(at);
                Value callable = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "REDUCE arguments are not a tuple");
                }
                push(reduce(callable, copy(args.as_list().items, at), at), at);
                break;
            }
            case NEWOBJ: {  // cls.__new__(cls, *args)
                Value args = pop(at);
                Value cls = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "NEWOBJ arguments are not a tuple");
                }
                push(reduce(cls, copy(args.as_list().items, at), at), at);
                break;
            }
            case NEWOBJ_EX: {  // keyword arguments are dropped
                pop(at);
                Value args = pop(at);
                Value cls = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "NEWOBJ_EX arguments are not a tuple");
                }
                push(reduce(cls, copy(args.as_list().items, at), at), at);
                break;
            }
            case INST: {  // module\nname\n, arguments since MARK
                std::string module(line());
                std::string name(line());
                push(reduce(Global{std::move(module), std::move(name)}, pop_mark(at), at), at);
                break;
            }
            case OBJ: {
                std::vector<Value> items = pop_mark(at);
                if (items.empty()) {
                    fail(at, "OBJ without a class");
                }
                Value cls = items.front();
                items.erase(items.begin());
                push(reduce(cls, std::move(items), at), at);
                break;
            }
            case BUILD: {
                Value state = pop(at);
                Value& target = top(at);
                if (Object* const* object = target.get_if<Object*>()) {
                    (*object)->state = std::move(state);
                }
                // Other targets keep no state: for a dict it is instance attributes (a state
                // dict's `_metadata`), not items.
                break;
            }
            case BINPERSID: {
                Value pid = pop(at);
                if (!hooks_.persistent_load) {
                    fail(at, "persistent id without a loader");
                }
                push(hooks_.persistent_load(pid), at);
                break;
            }
            case PERSID: {
                Value pid = std::string(line());
                if (!hooks_.persistent_load) {
                    fail(at, "persistent id without a loader");
                }
                push(hooks_.persistent_load(pid), at);
                break;
            }
            case NEXT_BUFFER:
            case READONLY_BUFFER: fail(at, "out-of-band buffers are not supported");
            case EXT1:
            case EXT2:
            case EXT4: fail(at, "extension registry opcodes are not supported");
            default: fail(at, "unknown opcode 0x" + hex_byte(op));
        }
    }

    std::string_view in_;
    size_t pos_ = 0;
    const Hooks& hooks_;
    const std::string& source_;
    Document& doc_;
    std::vector<Value> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, Value> memo_;
    const uint64_t budget_;
    uint64_t budget_left_;
};

}  // namespace

bool Value::as_bool() const {
    if (const bool* b = get_if<bool>()) {
        return *b;
    }
    if (const int64_t* i = get_if<int64_t>()) {  // Python 2 pickles of True/False
        return *i != 0;
    }
    kind_error("a bool", *this);
}

int64_t Value::as_int() const {
    if (const int64_t* i = get_if<int64_t>()) {
        return *i;
    }
    if (const bool* b = get_if<bool>()) {
        return *b ? 1 : 0;
    }
    kind_error("an int", *this);
}

double Value::as_double() const {
    if (const double* d = get_if<double>()) {
        return *d;
    }
    if (const int64_t* i = get_if<int64_t>()) {
        return static_cast<double>(*i);
    }
    kind_error("a float", *this);
}

const std::string& Value::as_string() const {
    if (const std::string* s = get_if<std::string>()) {
        return *s;
    }
    kind_error("a str", *this);
}

const List& Value::as_list() const {
    if (List* const* l = get_if<List*>()) {
        return **l;
    }
    kind_error("a list or tuple", *this);
}

const Dict& Value::as_dict() const {
    if (Dict* const* d = get_if<Dict*>()) {
        return **d;
    }
    kind_error("a dict", *this);
}

const Object& Value::as_object() const {
    if (Object* const* o = get_if<Object*>()) {
        return **o;
    }
    kind_error("an object", *this);
}

const TensorView& Value::as_tensor() const {
    if (const TensorView* t = get_if<TensorView>()) {
        return *t;
    }
    kind_error("a tensor", *this);
}

const Value* Value::member(std::string_view key) const {
    if (Dict* const* d = get_if<Dict*>()) {
        return (*d)->find(key);
    }
    if (Object* const* o = get_if<Object*>()) {
        if ((*o)->state.is<Dict*>()) {
            if (const Value* v = (*o)->state.as_dict().find(key)) {
                return v;
            }
        }
        return (*o)->items.find(key);
    }
    return nullptr;
}

std::string Value::kind_name() const {
    struct Namer {
        std::string operator()(None) const { return "None"; }
        std::string operator()(bool) const { return "bool"; }
        std::string operator()(int64_t) const { return "int"; }
        std::string operator()(double) const { return "float"; }
        std::string operator()(const std::string&) const { return "str"; }
        std::string operator()(const Bytes&) const { return "bytes"; }
        std::string operator()(List* l) const {
            return l->kind == List::Kind::tuple ? "tuple"
                   : l->kind == List::Kind::set ? "set"
                                                : "list";
        }
        std::string operator()(Dict*) const { return "dict"; }
        std::string operator()(Object* o) const { return o->cls.qualified(); }
        std::string operator()(const Global& g) const { return "global " + g.qualified(); }
        std::string operator()(const TensorView&) const { return "tensor"; }
    };
    return std::visit(Namer{}, data_);
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items) {
        if (const std::string* s = k.get_if<std::string>(); s != nullptr && *s == key) {
            return &v;
        }
    }
    return nullptr;
}

List* Document::new_list(List::Kind kind) {
    lists_.push_back(std::make_unique<List>());
    lists_.back()->kind = kind;
    return lists_.back().get();
}

Dict* Document::new_dict() {
    dicts_.push_back(std::make_unique<Dict>());
    return dicts_.back().get();
}

Object* Document::new_object(Global cls) {
    objects_.push_back(std::make_unique<Object>());
    objects_.back()->cls = std::move(cls);
    return objects_.back().get();
}

void unpickle(std::string_view bytes, const Hooks& hooks, const std::string& source,
              Document& out) {
    out.root = Unpickler(bytes, hooks, source, out).run();
}

}  // namespace embed::pickle
