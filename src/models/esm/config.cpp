#include "models/esm/config.h"

#include <stdexcept>

#include "base/errors.h"
#include "models/esm/alphabet.h"

namespace embed::esm {
namespace {

// fair-esm's architecture name for ESM-1b (and ESM-1v, which shares it). ESM-2 files keep
// their configuration in cfg["model"] instead of args, which is how fair-esm tells them apart.
constexpr const char* kEsm1bArch = "roberta_large";
// transformers' EsmConfig default, used when config.json omits layer_norm_eps.
constexpr double kHuggingFaceLayerNormEps = 1e-12;
// fair-esm's feed-forward width when the configuration omits it: 4 x the embedding width.
constexpr int64_t kFeedForwardPerWidth = 4;
// Far above any released ESM (15B: 48 layers, width 5120, feed-forward 20480, 1024 positions),
// low enough that a damaged configuration is an error, not an overflow or a huge allocation.
constexpr int64_t kMaxLayers = 1 << 12;
constexpr int64_t kMaxDimension = 1 << 20;
constexpr int64_t kMaxPositions = 1 << 20;

bool within(int64_t value, int64_t low, int64_t high) {
    return value >= low && value <= high;
}

const pickle::Value* esm2_model_config(const pickle::Value& root) {
    const pickle::Value* cfg = root.member("cfg");
    return cfg != nullptr ? cfg->member("model") : nullptr;
}

const pickle::Value* fair_esm_model_config(const pickle::Value& root) {
    const pickle::Value* esm2 = esm2_model_config(root);
    return esm2 != nullptr ? esm2 : root.member("args");
}

std::string arch_of(const pickle::Value& model_config) {
    const pickle::Value* arch = model_config.member("arch");
    if (arch != nullptr && arch->is<std::string>()) {
        return arch->as_string();
    }
    return {};
}

}  // namespace

void Config::validate(const std::string& source) const {
    if (!within(num_layers, 1, kMaxLayers) || !within(embed_dim, 1, kMaxDimension) ||
        !within(ffn_dim, 1, kMaxDimension) || !within(attention_heads, 1, kMaxDimension) ||
        embed_dim % attention_heads != 0 || (embed_dim / attention_heads) % 2 != 0) {
        throw FileError(Location{source},
                        "implausible ESM configuration: " + std::to_string(num_layers) +
                            " layers, width " + std::to_string(embed_dim) + ", " +
                            std::to_string(attention_heads) + " heads, feed-forward " +
                            std::to_string(ffn_dim));
    }
    if (version == Version::esm1b &&
        !within(max_positions, kSpecialTokensPerSequence + 1, kMaxPositions)) {
        throw FileError(Location{source},
                        "implausible ESM-1b max_positions " + std::to_string(max_positions));
    }
}

Config config_from_fair_esm(const pickle::Value& root, const std::string& source) {
    const pickle::Value* model_config = fair_esm_model_config(root);
    if (model_config == nullptr) {
        throw FileError(Location{source},
                        "no cfg['model'] or args in the checkpoint; not a fair-esm model file");
    }
    auto field = [&](const char* name) -> const pickle::Value& {
        const pickle::Value* v = model_config->member(name);
        if (v == nullptr) {
            throw std::runtime_error("the checkpoint's configuration lacks '" + std::string(name) +
                                     "'");
        }
        return *v;
    };
    Config c;
    if (esm2_model_config(root) != nullptr) {
        c.version = Version::esm2;
    } else if (arch_of(*model_config) == kEsm1bArch) {
        c.version = Version::esm1b;
    } else {
        throw FileError(Location{source}, "fair-esm architecture '" + arch_of(*model_config) +
                                              "' is not supported (ESM-2 and ESM-1b/ESM-1v are)");
    }
    try {
        c.num_layers = field("encoder_layers").as_int();
        c.embed_dim = field("encoder_embed_dim").as_int();
        c.attention_heads = field("encoder_attention_heads").as_int();
        const pickle::Value* ffn = model_config->member("encoder_ffn_embed_dim");
        // An implausible width is rejected by validate() below, without overflowing here.
        c.ffn_dim = ffn != nullptr                          ? ffn->as_int()
                    : within(c.embed_dim, 1, kMaxDimension) ? kFeedForwardPerWidth * c.embed_dim
                                                            : 0;
        const pickle::Value* dropout = model_config->member("token_dropout");
        c.token_dropout = dropout != nullptr && !dropout->is_none() && dropout->as_bool();
        if (c.version == Version::esm1b) {
            c.max_positions = field("max_positions").as_int();
        }
    } catch (const std::runtime_error& e) {
        // The configuration's accessors name the field, not the file.
        throw FileError(Location{source}, e.what());
    }
    c.validate(source);
    return c;
}

Config config_from_hugging_face(const nlohmann::json& config, const std::string& source) {
    Config c;
    try {
        const nlohmann::json* position_type = json::find(config, "position_embedding_type");
        const std::string positions =
            position_type != nullptr ? json::as_string(*position_type) : "absolute";
        if (positions == "rotary") {
            c.version = Version::esm2;
        } else if (positions == "absolute") {
            c.version = Version::esm1b;
        } else {
            throw std::runtime_error("unsupported position_embedding_type '" + positions + "'");
        }
        const auto integer = [&config](const char* key) {
            return json::as_int(json::at(config, key));
        };
        c.num_layers = integer("num_hidden_layers");
        c.embed_dim = integer("hidden_size");
        c.attention_heads = integer("num_attention_heads");
        c.ffn_dim = integer("intermediate_size");
        // Absent keys take transformers' EsmConfig defaults.
        const nlohmann::json* dropout = json::find(config, "token_dropout");
        c.token_dropout = dropout != nullptr && json::as_bool(*dropout);
        const nlohmann::json* eps = json::find(config, "layer_norm_eps");
        c.layer_norm_eps = eps != nullptr ? json::as_number(*eps) : kHuggingFaceLayerNormEps;
        const nlohmann::json* before = json::find(config, "emb_layer_norm_before");
        const bool layer_norm_before =
            before != nullptr && !before->is_null() && json::as_bool(*before);
        if (layer_norm_before != (c.version == Version::esm1b)) {
            throw std::runtime_error(
                "emb_layer_norm_before=" + std::string(layer_norm_before ? "true" : "false") +
                " with " + positions + " positions is neither ESM-2 nor ESM-1b");
        }
        if (c.version == Version::esm1b) {
            // Rows of the position table; too few (or a damaged number) fails validate().
            const int64_t rows = integer("max_position_embeddings");
            c.max_positions = rows > kPositionTableExtraRows ? rows - kPositionTableExtraRows : 0;
        }
    } catch (const std::runtime_error& e) {
        throw FileError(Location{source + "/config.json"}, e.what());
    }
    c.validate(source + "/config.json");
    return c;
}

}  // namespace embed::esm
