// The safe unpickler on its own (no zip archive around it), then fair-esm's configuration
// reader on what it produced, as for the args / cfg of a .pt file.
#include <unordered_set>
#include <vector>

#include "checkpoint/pickle.h"
#include "models/esm/config.h"

#include "fuzz_support.h"

namespace embed {
namespace {

// Touches every value reachable from the root once; memo references make the graph cyclic.
void walk(const pickle::Value& root) {
    std::vector<const pickle::Value*> pending = {&root};
    std::unordered_set<const void*> seen;
    auto push_container = [&](const void* container, auto&& push_items) {
        if (seen.insert(container).second) {
            push_items();
        }
    };
    while (!pending.empty()) {
        const pickle::Value& v = *pending.back();
        pending.pop_back();
        fuzz::require(!v.kind_name().empty(), "value without a kind");
        if (const auto* list = v.get_if<pickle::List*>()) {
            push_container(*list, [&] {
                for (const pickle::Value& item : (*list)->items) {
                    pending.push_back(&item);
                }
            });
        } else if (const auto* dict = v.get_if<pickle::Dict*>()) {
            push_container(*dict, [&] {
                for (const auto& [key, value] : (*dict)->items) {
                    pending.push_back(&key);
                    pending.push_back(&value);
                }
            });
        } else if (const auto* object = v.get_if<pickle::Object*>()) {
            push_container(*object, [&] {
                for (const pickle::Value& arg : (*object)->args) {
                    pending.push_back(&arg);
                }
                pending.push_back(&(*object)->state);
                for (const auto& [key, value] : (*object)->items.items) {
                    pending.push_back(&key);
                    pending.push_back(&value);
                }
            });
        }
    }
}

}  // namespace
}  // namespace embed

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    embed::pickle::Document document;
    embed::fuzz::expect_clean_errors("input.pkl", [&] {
        embed::pickle::unpickle(bytes, embed::pickle::Hooks{}, "input.pkl", document);
        embed::walk(document.root);
        embed::esm::config_from_fair_esm(document.root, "input.pkl");
    });
    return 0;
}
