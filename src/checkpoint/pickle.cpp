#include "embed/checkpoint/pickle.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "embed/util/text.h"

namespace embed::pickle {
namespace {

[[noreturn]] void kind_error(const char* expected, const Value& v) {
    throw std::runtime_error(std::string("pickle: expected ") + expected + ", found " +
                             v.kind_name());
}

// Pickled Python ints wider than this many bytes are kept only approximately (as a double).
constexpr size_t kMaxExactIntBytes = 8;

class Unpickler {
public:
    Unpickler(std::string_view bytes, const Hooks& hooks, const std::string& source, Document& doc)
        : in_(bytes), hooks_(hooks), source_(source), doc_(doc) {}

    Value run() {
        while (true) {
            const size_t op_offset = pos_;
            const auto op = static_cast<uint8_t>(byte());
            if (op == '.') {
                return pop(op_offset);
            }
            step(op, op_offset);
        }
    }

private:
    [[noreturn]] void fail(size_t offset, const std::string& what) const {
        throw std::runtime_error(source_ + ": pickle error at byte " + std::to_string(offset) +
                                 ": " + what);
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

    Value tuple(std::vector<Value> items) {
        List* t = doc_.new_list(List::Kind::tuple);
        t->items = std::move(items);
        return t;
    }

    void memo_put(uint64_t index, size_t at) { memo_[index] = top(at); }

    Value memo_get(uint64_t index, size_t at) {
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
    std::optional<Value> builtin_reduce(const Global& g, const std::vector<Value>& args) {
        const std::string q = g.qualified();
        if (q == "collections.OrderedDict" || q == "builtins.dict" || q == "__builtin__.dict") {
            Dict* d = doc_.new_dict();
            if (!args.empty() && args[0].is<List*>()) {
                for (const Value& pair : args[0].as_list().items) {
                    const auto& kv = pair.as_list().items;
                    if (kv.size() == 2) {
                        d->items.emplace_back(kv[0], kv[1]);
                    }
                }
            }
            return Value(d);
        }
        if (q == "builtins.set" || q == "__builtin__.set" || q == "builtins.frozenset" ||
            q == "builtins.list" || q == "__builtin__.list") {
            List* l = doc_.new_list(q.find("list") != std::string::npos ? List::Kind::list
                                                                        : List::Kind::set);
            if (!args.empty() && args[0].is<List*>()) {
                l->items = args[0].as_list().items;
            }
            return Value(l);
        }
        if ((q == "copy_reg._reconstructor" || q == "copyreg._reconstructor") && !args.empty() &&
            args[0].is<Global>()) {
            // Protocols 0 and 1 build plain instances (argparse.Namespace) this way.
            return Value(doc_.new_object(*args[0].get_if<Global>()));
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
        if (std::optional<Value> v = builtin_reduce(*g, args)) {
            return *v;
        }
        if (hooks_.reduce) {
            if (std::optional<Value> v = hooks_.reduce(doc_, *g, args)) {
                return *v;
            }
        }
        Object* o = doc_.new_object(*g);
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
            case 0x80:
                byte();
                break;  // PROTO
            case 0x95:
                take(8);
                break;  // FRAME: framing is irrelevant for an in-memory read
            case '(':
                marks_.push_back(stack_.size());
                break;
            case '0':
                pop(at);
                break;
            case '1':
                pop_mark(at);
                break;
            case '2':
                stack_.push_back(top(at));
                break;
            case 'N':
                stack_.emplace_back(None{});
                break;
            case 0x88:
                stack_.emplace_back(true);
                break;
            case 0x89:
                stack_.emplace_back(false);
                break;
            case 'I':
                stack_.push_back(text_int(line(), at));
                break;
            case 'L':
                stack_.push_back(text_int(line(), at));
                break;
            case 'J':
                stack_.emplace_back(static_cast<int64_t>(static_cast<int32_t>(little_endian(4))));
                break;
            case 'K':
                stack_.emplace_back(static_cast<int64_t>(little_endian(1)));
                break;
            case 'M':
                stack_.emplace_back(static_cast<int64_t>(little_endian(2)));
                break;
            case 0x8a:
                stack_.push_back(signed_int(take(little_endian(1))));
                break;
            case 0x8b:
                stack_.push_back(signed_int(take(little_endian(4))));
                break;
            case 'F': {
                const std::string text(line());
                stack_.emplace_back(std::strtod(text.c_str(), nullptr));
                break;
            }
            case 'G': {
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
                stack_.emplace_back(d);
                break;
            }
            case 'S':
                stack_.emplace_back(quoted(line(), at));
                break;
            case 'V':
                stack_.emplace_back(raw_unicode_escape(line(), at));
                break;
            case 'T':
                stack_.emplace_back(std::string(take(little_endian(4))));
                break;
            case 'U':
                stack_.emplace_back(std::string(take(little_endian(1))));
                break;
            case 'X':
                stack_.emplace_back(std::string(take(little_endian(4))));
                break;
            case 0x8c:
                stack_.emplace_back(std::string(take(little_endian(1))));
                break;
            case 0x8d:
                stack_.emplace_back(std::string(take(little_endian(8))));
                break;
            case 'B':
                stack_.emplace_back(Bytes{std::string(take(little_endian(4)))});
                break;
            case 'C':
                stack_.emplace_back(Bytes{std::string(take(little_endian(1)))});
                break;
            case 0x8e:
                stack_.emplace_back(Bytes{std::string(take(little_endian(8)))});
                break;
            case 0x96:
                stack_.emplace_back(Bytes{std::string(take(little_endian(8)))});
                break;
            case ']':
                stack_.emplace_back(doc_.new_list(List::Kind::list));
                break;
            case ')':
                stack_.push_back(tuple({}));
                break;
            case '}':
                stack_.emplace_back(doc_.new_dict());
                break;
            case 0x8f:
                stack_.emplace_back(doc_.new_list(List::Kind::set));
                break;
            case 'l': {
                List* l = doc_.new_list(List::Kind::list);
                l->items = pop_mark(at);
                stack_.emplace_back(l);
                break;
            }
            case 't':
                stack_.push_back(tuple(pop_mark(at)));
                break;
            case 0x91: {
                List* s = doc_.new_list(List::Kind::set);
                s->items = pop_mark(at);
                stack_.emplace_back(s);
                break;
            }
            case 0x85:
            case 0x86:
            case 0x87: {
                const size_t n = op - 0x84u;
                if (stack_.size() < frame_start() + n) {
                    fail(at, "stack underflow");
                }
                std::vector<Value> items(std::make_move_iterator(stack_.end() - n),
                                         std::make_move_iterator(stack_.end()));
                stack_.resize(stack_.size() - n);
                stack_.push_back(tuple(std::move(items)));
                break;
            }
            case 'd': {
                Value d = doc_.new_dict();
                set_items(d, pop_mark(at), at);
                stack_.push_back(d);
                break;
            }
            case 'a': {
                Value item = pop(at);
                append(top(at), {std::move(item)}, at);
                break;
            }
            case 'e': {
                std::vector<Value> items = pop_mark(at);
                append(top(at), std::move(items), at);
                break;
            }
            case 0x90: {
                std::vector<Value> items = pop_mark(at);
                append(top(at), std::move(items), at);
                break;
            }
            case 's': {
                Value value = pop(at);
                Value key = pop(at);
                set_items(top(at), {std::move(key), std::move(value)}, at);
                break;
            }
            case 'u': {
                std::vector<Value> flat = pop_mark(at);
                set_items(top(at), std::move(flat), at);
                break;
            }
            case 'p': {
                const std::string text(line());
                memo_put(std::strtoull(text.c_str(), nullptr, 10), at);
                break;
            }
            case 'q':
                memo_put(little_endian(1), at);
                break;
            case 'r':
                memo_put(little_endian(4), at);
                break;
            case 0x94:
                memo_put(memo_.size(), at);
                break;
            case 'g': {
                const std::string text(line());
                stack_.push_back(memo_get(std::strtoull(text.c_str(), nullptr, 10), at));
                break;
            }
            case 'h':
                stack_.push_back(memo_get(little_endian(1), at));
                break;
            case 'j':
                stack_.push_back(memo_get(little_endian(4), at));
                break;
            case 'c': {
                std::string module(line());
                std::string name(line());
                stack_.emplace_back(Global{std::move(module), std::move(name)});
                break;
            }
            case 0x93: {
                Value name = pop(at);
                Value module = pop(at);
                stack_.emplace_back(global_from(module, name, at));
                break;
            }
            case 'R': {
                Value args = pop(at);
                Value callable = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "REDUCE arguments are not a tuple");
                }
                stack_.push_back(reduce(callable, args.as_list().items, at));
                break;
            }
            case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
                Value args = pop(at);
                Value cls = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "NEWOBJ arguments are not a tuple");
                }
                stack_.push_back(reduce(cls, args.as_list().items, at));
                break;
            }
            case 0x92: {  // NEWOBJ_EX: keyword arguments are dropped
                pop(at);
                Value args = pop(at);
                Value cls = pop(at);
                if (!args.is<List*>()) {
                    fail(at, "NEWOBJ_EX arguments are not a tuple");
                }
                stack_.push_back(reduce(cls, args.as_list().items, at));
                break;
            }
            case 'i': {  // INST module\nname\n with arguments since MARK
                std::string module(line());
                std::string name(line());
                stack_.push_back(
                    reduce(Global{std::move(module), std::move(name)}, pop_mark(at), at));
                break;
            }
            case 'o': {
                std::vector<Value> items = pop_mark(at);
                if (items.empty()) {
                    fail(at, "OBJ without a class");
                }
                Value cls = items.front();
                items.erase(items.begin());
                stack_.push_back(reduce(cls, std::move(items), at));
                break;
            }
            case 'b': {
                Value state = pop(at);
                Value& target = top(at);
                if (Object* const* object = target.get_if<Object*>()) {
                    (*object)->state = std::move(state);
                }
                // Other targets keep no state: for a dict it is instance attributes (a state
                // dict's `_metadata`), not items.
                break;
            }
            case 'Q': {
                Value pid = pop(at);
                if (!hooks_.persistent_load) {
                    fail(at, "persistent id without a loader");
                }
                stack_.push_back(hooks_.persistent_load(pid));
                break;
            }
            case 'P': {
                Value pid = std::string(line());
                if (!hooks_.persistent_load) {
                    fail(at, "persistent id without a loader");
                }
                stack_.push_back(hooks_.persistent_load(pid));
                break;
            }
            case 0x97:
            case 0x98:
                fail(at, "out-of-band buffers are not supported");
            case 0x82:
            case 0x83:
            case 0x84:
                fail(at, "extension registry opcodes are not supported");
            default:
                fail(at, "unknown opcode 0x" + hex_byte(op));
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

const StoredTensor& Value::as_tensor() const {
    if (const StoredTensor* t = get_if<StoredTensor>()) {
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
        std::string operator()(const StoredTensor&) const { return "tensor"; }
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
