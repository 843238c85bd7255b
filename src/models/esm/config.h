// ESM architecture hyper-parameters, read from the checkpoint's own configuration.
#pragma once

#include <cstdint>
#include <string>

#include "base/json.h"
#include "checkpoint/pickle.h"

namespace embed::esm {

enum class Version {
    esm2,   ///< rotary positions, no LayerNorm before the layers
    esm1b,  ///< learned positions (at most 1022 residues), LayerNorm before the layers
};

struct Config {
    Version version = Version::esm2;
    int64_t num_layers = 0;
    int64_t embed_dim = 0;
    int64_t ffn_dim = 0;
    int64_t attention_heads = 0;
    /// Rescale embeddings as in training with token dropout (0.88 without <mask> tokens).
    bool token_dropout = true;
    /// ESM-1b: positions in the learned table, BOS and EOS included (1024).
    int64_t max_positions = 0;
    /// fair-esm's LayerNorm default; Hugging Face configs state theirs.
    double layer_norm_eps = 1e-5;

    std::string family_name() const { return version == Version::esm2 ? "ESM-2" : "ESM-1b"; }
    /// Checks the numbers are usable (positive, heads divide the width); throws naming `source`.
    void validate(const std::string& source) const;
};

/// From a fair-esm .pt: `cfg["model"]` (ESM-2) or `args` (ESM-1b), argparse.Namespace or dict.
/// Throws std::runtime_error naming the source when neither is there or a field is missing.
Config config_from_fair_esm(const pickle::Value& root, const std::string& source);

/// From a Hugging Face config.json with model_type "esm".
Config config_from_hugging_face(const nlohmann::json& config, const std::string& source);

}  // namespace embed::esm
