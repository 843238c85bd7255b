#include "models/elmo/options.h"

#include <stdexcept>

#include "embed/errors.h"

namespace embed::elmo {
namespace {

// Far above any trained ELMo (SeqVec: 2 layers of 4096 cells, 50 characters per token), low
// enough that a damaged options.json is an error rather than a huge allocation.
constexpr int64_t kMaxDimension = 1 << 16;
constexpr int64_t kMaxLayers = 64;
constexpr int64_t kMaxCharactersPerToken = 1024;
constexpr int64_t kMaxCharacters = 1 << 16;

bool within(int64_t value, int64_t low, int64_t high) {
    return value >= low && value <= high;
}

}  // namespace

int64_t Options::total_filters() const {
    int64_t total = 0;
    for (const auto& [width, count] : filters) {
        total += count;
    }
    return total;
}

bool looks_like_elmo_options(const json::Value& options) {
    return options.find("char_cnn") != nullptr && options.find("lstm") != nullptr;
}

Options parse_options(const json::Value& options, const std::string& source) {
    Options o;
    try {
        const json::Value& cnn = options.at("char_cnn");
        for (const json::Value& filter : cnn.at("filters").as_array()) {
            const json::Array& pair = filter.as_array();
            if (pair.size() != 2) {
                throw std::runtime_error("a filter is [width, count]");
            }
            o.filters.emplace_back(pair[0].as_int(), pair[1].as_int());
        }
        o.highway_layers = cnn.at("n_highway").as_int();
        o.character_embedding_dim = cnn.at("embedding").at("dim").as_int();
        o.max_characters_per_token = cnn.at("max_characters_per_token").as_int();
        if (const json::Value* n = cnn.find("n_characters")) {
            o.characters = n->as_int();
        }
        const std::string activation = cnn.at("activation").as_string();
        if (activation == "relu") {
            o.activation = Options::Activation::relu;
        } else if (activation == "tanh") {
            o.activation = Options::Activation::tanh;
        } else {
            throw std::runtime_error("activation '" + activation + "' is neither relu nor tanh");
        }

        const json::Value& lstm = options.at("lstm");
        o.lstm_layers = lstm.at("n_layers").as_int();
        o.cell_dim = lstm.at("dim").as_int();
        o.projection_dim = lstm.at("projection_dim").as_int();
        if (const json::Value* clip = lstm.find("cell_clip"); clip && !clip->is_null()) {
            o.cell_clip = clip->as_number();
        }
        if (const json::Value* clip = lstm.find("proj_clip"); clip && !clip->is_null()) {
            o.projection_clip = clip->as_number();
        }
        if (const json::Value* skip = lstm.find("use_skip_connections")) {
            o.skip_connections = skip->as_bool();
        }
    } catch (const std::runtime_error& e) {
        throw FileError(Location{source}, e.what());
    }
    bool plausible = within(static_cast<int64_t>(o.filters.size()), 1, kMaxLayers) &&
                     within(o.highway_layers, 0, kMaxLayers) &&
                     within(o.character_embedding_dim, 1, kMaxDimension) &&
                     within(o.max_characters_per_token, 3, kMaxCharactersPerToken) &&
                     within(o.characters, 262, kMaxCharacters) &&
                     within(o.lstm_layers, 1, kMaxLayers) && within(o.cell_dim, 1, kMaxDimension) &&
                     within(o.projection_dim, 1, kMaxDimension);
    for (const auto& [width, count] : o.filters) {
        plausible = plausible && within(width, 1, o.max_characters_per_token) &&
                    within(count, 1, kMaxDimension);
    }
    if (!plausible || o.total_filters() > kMaxDimension) {
        throw std::runtime_error(source +
                                 ": implausible ELMo options (empty, non-positive or huge "
                                 "sizes, or a filter wider than a token)");
    }
    return o;
}

}  // namespace embed::elmo
