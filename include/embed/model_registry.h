// The released models the tool knows by name: one card per model in models/*.json, compiled in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace embed {

struct ModelCard {
    std::string name;    ///< e.g. "esm2_t33_650M_UR50D"
    std::string family;  ///< e.g. "ESM-2"
    std::string description;
    int64_t parameters = 0;  ///< as published
    int64_t layers = 0;      ///< transformer or LSTM layers
    int64_t embedding_dim = 0;
    int64_t attention_heads = 0;          ///< 0 for models without attention
    std::optional<int64_t> max_residues;  ///< a hard limit of the architecture, if any
    std::string license;
    std::string citation;
    std::vector<std::string> downloads;  ///< URLs of the released files
    std::string hugging_face;            ///< hub repository, if published there
};

/// Every card, sorted by family then size; throws std::logic_error if a card is malformed
/// (they are compiled in and checked by the tests).
const std::vector<ModelCard>& model_cards();

/// The card with this exact name.
std::optional<ModelCard> find_model_card(const std::string& name);

}  // namespace embed
