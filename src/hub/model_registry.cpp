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

std::string optional_string(const json::Value& object, const char* key) {
    const json::Value* v = object.find(key);
    return v != nullptr && !v->is_null() ? v->as_string() : std::string();
}

ModelFile parse_file(const json::Value& file) {
    ModelFile out;
    out.name = file.at("name").as_string();
    for (const json::Value& url : file.at("urls").as_array()) {
        out.urls.push_back(url.as_string());
    }
    out.sha256 = optional_string(file, "sha256");
    out.md5 = optional_string(file, "md5");
    if (const json::Value* size = file.find("size"); size != nullptr && !size->is_null()) {
        out.size = static_cast<uint64_t>(size->as_int());
    }
    if (const json::Value* optional = file.find("optional")) {
        out.optional = optional->as_bool();
    }
    out.purpose = optional_string(file, "purpose");
    if (out.name.empty() || out.name.find('/') != std::string::npos || out.urls.empty()) {
        throw std::runtime_error("file '" + out.name + "' needs a plain name and a URL");
    }
    return out;
}

ModelCard parse_card(std::string_view file, std::string_view text) {
    try {
        const json::Value card = json::parse(text);
        ModelCard out;
        out.name = card.at("name").as_string();
        out.family = card.at("family").as_string();
        out.description = card.at("description").as_string();
        out.parameters = card.at("parameters").as_int();
        out.layers = card.at("layers").as_int();
        out.embedding_dim = card.at("embedding_dim").as_int();
        if (const json::Value* heads = card.find("attention_heads")) {
            out.attention_heads = heads->as_int();
        }
        if (const json::Value* limit = card.find("max_residues"); limit && !limit->is_null()) {
            out.max_residues = limit->as_int();
        }
        out.license = card.at("license").as_string();
        out.citation = card.at("citation").as_string();
        out.checkpoint = card.at("checkpoint").as_string();
        for (const json::Value& file : card.at("files").as_array()) {
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
