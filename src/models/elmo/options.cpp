#include "models/elmo/options.h"

#include <stdexcept>

#include "base/errors.h"

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

bool looks_like_elmo_options(const nlohmann::json& options) {
    return json::find(options, "char_cnn") != nullptr && json::find(options, "lstm") != nullptr;
}

Options parse_options(const nlohmann::json& options, const std::string& source) {
    Options o;
    try {
        const nlohmann::json& cnn = json::at(options, "char_cnn");
        for (const nlohmann::json& filter : json::as_array(json::at(cnn, "filters"))) {
            const nlohmann::json::array_t& pair = json::as_array(filter);
            if (pair.size() != 2) {
                throw std::runtime_error("a filter is [width, count]");
            }
            o.filters.emplace_back(json::as_int(pair[0]), json::as_int(pair[1]));
        }
        o.highway_layers = json::as_int(json::at(cnn, "n_highway"));
        o.character_embedding_dim = json::as_int(json::at(json::at(cnn, "embedding"), "dim"));
        o.max_characters_per_token = json::as_int(json::at(cnn, "max_characters_per_token"));
        if (const nlohmann::json* n = json::find(cnn, "n_characters")) {
            o.characters = json::as_int(*n);
        }
        const std::string activation = json::as_string(json::at(cnn, "activation"));
        if (activation == "relu") {
            o.activation = Options::Activation::relu;
        } else if (activation == "tanh") {
            o.activation = Options::Activation::tanh;
        } else {
            throw std::runtime_error("activation '" + activation + "' is neither relu nor tanh");
        }

        const nlohmann::json& lstm = json::at(options, "lstm");
        o.lstm_layers = json::as_int(json::at(lstm, "n_layers"));
        o.cell_dim = json::as_int(json::at(lstm, "dim"));
        o.projection_dim = json::as_int(json::at(lstm, "projection_dim"));
        if (const nlohmann::json* clip = json::find(lstm, "cell_clip"); clip && !clip->is_null()) {
            o.cell_clip = json::as_number(*clip);
        }
        if (const nlohmann::json* clip = json::find(lstm, "proj_clip"); clip && !clip->is_null()) {
            o.projection_clip = json::as_number(*clip);
        }
        if (const nlohmann::json* skip = json::find(lstm, "use_skip_connections")) {
            o.skip_connections = json::as_bool(*skip);
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
