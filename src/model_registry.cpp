#include "embed/model_registry.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "embed/util/json.h"

namespace embed {
namespace detail {
// Generated from models/*.json by cmake/ModelCards.cmake: (file name, contents).
const std::vector<std::pair<std::string_view, std::string_view>>& model_card_texts();
}  // namespace detail

namespace {

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
        for (const json::Value& url : card.at("downloads").as_array()) {
            out.downloads.push_back(url.as_string());
        }
        if (const json::Value* hub = card.find("hugging_face")) {
            out.hugging_face = hub->as_string();
        }
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
