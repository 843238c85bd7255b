// ELMo hyper-parameters from the options.json that ships beside the weights (bilm-tf's format,
// which AllenNLP and SeqVec use unchanged).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"

namespace embed::elmo {

struct Options {
    /// Character convolutions: (width, number of filters) each.
    std::vector<std::pair<int64_t, int64_t>> filters;
    int64_t highway_layers = 0;
    int64_t character_embedding_dim = 0;
    int64_t characters = 262;  ///< rows of the character embedding, padding row included
    int64_t max_characters_per_token = 0;
    enum class Activation { relu, tanh } activation = Activation::relu;

    int64_t lstm_layers = 0;
    int64_t cell_dim = 0;        ///< LSTM memory cell width
    int64_t projection_dim = 0;  ///< LSTM output width, also the token embedding's
    double cell_clip = 0;        ///< 0: no clipping
    double projection_clip = 0;  ///< 0: no clipping
    bool skip_connections = true;

    int64_t total_filters() const;
};

/// Throws std::runtime_error naming `source` and the missing or implausible field.
Options parse_options(const nlohmann::json& options, const std::string& source);

/// Whether a parsed options.json describes an ELMo (has "char_cnn" and "lstm").
bool looks_like_elmo_options(const nlohmann::json& options);

}  // namespace embed::elmo
