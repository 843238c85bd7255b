// The released models the tool knows by name: one card per model in models/*.json, compiled in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace embed {

/// A file of a released model, as published.
struct ModelFile {
    std::string name;               ///< file name in the model's directory
    std::vector<std::string> urls;  ///< where it is published, mirrors after the first
    std::string sha256;             ///< lower-case hex, empty when not published
    std::string md5;                ///< lower-case hex, empty when not published
    std::optional<uint64_t> size;   ///< bytes, when published
    bool optional = false;          ///< the model works without it (e.g. contact regression)
    std::string purpose;            ///< what an optional file is for
};

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
    /// The path to load, relative to the directory holding `files` ("." for the directory).
    std::string checkpoint;
    std::vector<ModelFile> files;
    std::string hugging_face;  ///< hub repository (org/name), if published there
};

/// Every card, sorted by family then size; throws std::logic_error if a card is malformed
/// (they are compiled in and checked by the tests).
const std::vector<ModelCard>& model_cards();

/// The card with this exact name.
std::optional<ModelCard> find_model_card(const std::string& name);

}  // namespace embed
