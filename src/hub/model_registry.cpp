#include "hub/model_registry.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "base/json.h"

namespace embed {
namespace detail {
// Generated from models/*.json by cmake/ModelCards.cmake: (file name, contents).
const std::vector<std::pair<std::string_view, std::string_view>>& model_card_texts();
}  // namespace detail

namespace {

std::string optional_string(const nlohmann::json& object, const char* key) {
    const nlohmann::json* v = json::find(object, key);
    return v != nullptr && !v->is_null() ? json::as_string(*v) : std::string();
}

ModelFile parse_file(const nlohmann::json& file) {
    ModelFile out;
    out.name = json::as_string(json::at(file, "name"));
    for (const nlohmann::json& url : json::as_array(json::at(file, "urls"))) {
        out.urls.push_back(json::as_string(url));
    }
    out.sha256 = optional_string(file, "sha256");
    out.md5 = optional_string(file, "md5");
    if (const nlohmann::json* size = json::find(file, "size"); size && !size->is_null()) {
        out.size = static_cast<uint64_t>(json::as_int(*size));
    }
    if (const nlohmann::json* optional = json::find(file, "optional")) {
        out.optional = json::as_bool(*optional);
    }
    out.purpose = optional_string(file, "purpose");
    if (out.name.empty() || out.name.find('/') != std::string::npos || out.urls.empty()) {
        throw std::runtime_error("file '" + out.name + "' needs a plain name and a URL");
    }
    return out;
}

ModelCard parse_card(std::string_view file, std::string_view text) {
    try {
        const nlohmann::json card = json::parse(text);
        const auto string = [&card](const char* key) {
            return json::as_string(json::at(card, key));
        };
        const auto integer = [&card](const char* key) { return json::as_int(json::at(card, key)); };
        ModelCard out;
        out.name = string("name");
        out.family = string("family");
        out.description = string("description");
        out.parameters = integer("parameters");
        out.layers = integer("layers");
        out.embedding_dim = integer("embedding_dim");
        if (const nlohmann::json* heads = json::find(card, "attention_heads")) {
            out.attention_heads = json::as_int(*heads);
        }
        if (const nlohmann::json* limit = json::find(card, "max_residues");
            limit && !limit->is_null()) {
            out.max_residues = json::as_int(*limit);
        }
        out.license = string("license");
        out.citation = string("citation");
        out.checkpoint = string("checkpoint");
        for (const nlohmann::json& file : json::as_array(json::at(card, "files"))) {
            out.files.push_back(parse_file(file));
        }
        out.hugging_face = optional_string(card, "hugging_face");
        if (out.name + ".json" != file) {
            throw std::runtime_error("name does not match the file name");
        }
        return out;
    } catch (const std::runtime_error& e) {
        throw std::logic_error("model card models/" + std::string(file) + ": " + e.what());
    }
}

}  // namespace

const std::vector<ModelCard>& model_cards() {
    static const std::vector<ModelCard> cards = [] {
        std::vector<ModelCard> out;
        for (const auto& [file, text] : detail::model_card_texts()) {
            out.push_back(parse_card(file, text));
        }
        std::sort(out.begin(), out.end(), [](const ModelCard& a, const ModelCard& b) {
            return std::tie(a.family, a.parameters) < std::tie(b.family, b.parameters);
        });
        return out;
    }();
    return cards;
}

std::optional<ModelCard> find_model_card(const std::string& name) {
    for (const ModelCard& card : model_cards()) {
        if (card.name == name) {
            return card;
        }
    }
    return std::nullopt;
}

}  // namespace embed
