#include "models/esm/checkpoint.h"

#include <regex>
#include <stdexcept>

#include "checkpoint/huggingface.h"
#include "checkpoint/torch_file.h"
#include "models/esm/alphabet.h"

namespace embed::esm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHuggingFaceModelType = "esm";

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

constexpr const char* kContactWeight = "contact_head.regression.weight";

// Tensors of heads on top of the encoder (the language model, and the pooler and classifier
// of fine-tuned Hugging Face models), which embeddings never use.
bool is_unused_head(const std::string& name) {
    for (const char* head : {"lm_head.", "pooler.", "classifier."}) {
        if (starts_with(name, head)) {
            return true;
        }
    }
    return false;
}

// A weights file given directly (.../model.safetensors) stands for its directory.
fs::path huggingface_directory(const fs::path& path) {
    if (fs::is_regular_file(path) && is_huggingface_directory(path.parent_path())) {
        const std::string file = path.filename().string();
        if (file == "model.safetensors" || file == "pytorch_model.bin") {
            return path.parent_path();
        }
    }
    return path;
}

// fair-esm ships the contact head apart: NAME.pt beside NAME-contact-regression.pt.
fs::path contact_regression_file(const fs::path& checkpoint) {
    return checkpoint.parent_path() / (checkpoint.stem().string() + "-contact-regression.pt");
}

// The contact regression file beside a .pt, checked against the model it belongs to so that
// a mismatch names this file rather than the checkpoint.
StateDict read_contact_regression(const fs::path& regression, const Config& config) {
    const TorchFile file(regression);
    const pickle::Value* model = file.root().member("model");
    if (model == nullptr) {
        throw std::runtime_error(regression.string() + ": no 'model' state dict");
    }
    StateDict tensors = file.state_dict(*model);
    const std::vector<int64_t> expected = {1, config.num_layers * config.attention_heads};
    if (!tensors.contains(kContactWeight) || tensors.at(kContactWeight).shape() != expected) {
        throw std::runtime_error(regression.string() + ": expected " + kContactWeight + " " +
                                 shape_string(expected) + " for a model of " +
                                 std::to_string(config.num_layers) + " layers and " +
                                 std::to_string(config.attention_heads) + " heads");
    }
    return tensors;
}

bool is_contact_head(const std::string& name) {
    return starts_with(name, "contact_head.");
}

Checkpoint read_fair_esm(const fs::path& path, bool with_contact_head) {
    const TorchFile file(path);
    Checkpoint out;
    out.config = config_from_fair_esm(file.root(), path.string());
    const pickle::Value* model = file.root().member("model");
    if (model == nullptr) {
        throw std::runtime_error(path.string() + ": no 'model' state dict in the checkpoint");
    }
    // fair-esm's upgrade_state_dict: strip "encoder.sentence_encoder." then "encoder.".
    out.tensors =
        file.state_dict(*model).renamed([](const std::string& name) -> std::optional<std::string> {
            std::string short_name = name;
            for (const std::string prefix : {"encoder.sentence_encoder.", "encoder."}) {
                if (starts_with(short_name, prefix)) {
                    short_name = short_name.substr(prefix.size());
                    break;
                }
            }
            if (is_unused_head(short_name)) {
                return std::nullopt;
            }
            return short_name;
        });
    out.name = path.stem().string();
    out.format = "fair-esm .pt";
    out.weight_files = {path};
    const fs::path regression = contact_regression_file(path);
    if (with_contact_head && fs::exists(regression)) {
        out.tensors.merge(read_contact_regression(regression, out.config));
    }
    return out;
}

Checkpoint read_hugging_face(const fs::path& directory, bool with_contact_head) {
    HuggingFaceCheckpoint hf = read_huggingface_directory(directory);
    Checkpoint out;
    out.config = config_from_hugging_face(hf.config, directory.string());
    out.tensors = hf.tensors.renamed([&](const std::string& name) -> std::optional<std::string> {
        std::optional<std::string> fair_esm = fair_esm_name(name);
        if (fair_esm && !with_contact_head && is_contact_head(*fair_esm)) {
            return std::nullopt;
        }
        return fair_esm;
    });
    out.name = hf.name;
    out.format = "Hugging Face directory";
    out.weight_files = hf.weight_files;
    return out;
}

// The configuration is what the file says; the tensors are what it holds. A damaged number (33
// layers read as 3300, a width of 2^20) must be an error naming a tensor, not the allocation of
// a model of that size, so the sizes the model allocates are checked against the tensors first.
void check_sizes_against_tensors(const Checkpoint& checkpoint) {
    const Config& c = checkpoint.config;
    std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
        {"embed_tokens.weight", {kVocabularySize, c.embed_dim}}};
    if (c.version == Version::esm1b) {
        expected.push_back(
            {"embed_positions.weight", {c.max_positions + kPositionTableExtraRows, c.embed_dim}});
    }
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
        expected.push_back(
            {"layers." + std::to_string(layer) + ".fc1.weight", {c.ffn_dim, c.embed_dim}});
    }
    for (const auto& [name, shape] : expected) {
        const bool present = checkpoint.tensors.contains(name);
        if (!present || checkpoint.tensors.at(name).shape() != shape) {
            throw std::runtime_error(
                checkpoint.tensors.source() + ": the configuration (" +
                std::to_string(c.num_layers) + " layers, width " + std::to_string(c.embed_dim) +
                ", feed-forward " + std::to_string(c.ffn_dim) +
                ") does not match the tensors: " + name + " " + shape_string(shape) + " is " +
                (present ? shape_string(checkpoint.tensors.at(name).shape()) : "missing"));
        }
    }
}

}  // namespace

std::optional<std::string> fair_esm_name(const std::string& hugging_face_name) {
    // EsmForMaskedLM prefixes the encoder with "esm."; a bare EsmModel does not.
    const std::string name =
        starts_with(hugging_face_name, "esm.") ? hugging_face_name.substr(4) : hugging_face_name;
    if (is_unused_head(name) || name == "embeddings.position_ids") {
        return std::nullopt;
    }
    static const std::vector<std::pair<std::string, std::string>> kWhole = {
        {"embeddings.word_embeddings.", "embed_tokens."},
        {"embeddings.position_embeddings.", "embed_positions."},
        {"embeddings.layer_norm.", "emb_layer_norm_before."},
        {"encoder.emb_layer_norm_after.", "emb_layer_norm_after."},
        {"contact_head.", "contact_head."},
    };
    for (const auto& [from, to] : kWhole) {
        if (starts_with(name, from)) {
            return to + name.substr(from.size());
        }
    }
    static const std::regex kLayer(R"(encoder\.layer\.(\d+)\.(.+))");
    static const std::vector<std::pair<std::string, std::string>> kInLayer = {
        {"attention.self.query.", "self_attn.q_proj."},
        {"attention.self.key.", "self_attn.k_proj."},
        {"attention.self.value.", "self_attn.v_proj."},
        {"attention.self.rotary_embeddings.", "self_attn.rot_emb."},
        {"attention.output.dense.", "self_attn.out_proj."},
        {"attention.LayerNorm.", "self_attn_layer_norm."},
        {"intermediate.dense.", "fc1."},
        {"output.dense.", "fc2."},
        {"LayerNorm.", "final_layer_norm."},
    };
    std::smatch match;
    if (std::regex_match(name, match, kLayer)) {
        const std::string rest = match[2];
        for (const auto& [from, to] : kInLayer) {
            if (starts_with(rest, from)) {
                return "layers." + match[1].str() + "." + to + rest.substr(from.size());
            }
        }
    }
    return hugging_face_name;
}

bool is_esm_checkpoint(const fs::path& path) {
    const fs::path directory = huggingface_directory(path);
    if (is_huggingface_directory(directory)) {
        const nlohmann::json config = json::parse_file((directory / "config.json").string());
        const nlohmann::json* type = json::find(config, "model_type");
        return type != nullptr && type->is_string() &&
               json::as_string(*type) == kHuggingFaceModelType;
    }
    // The only torch.save checkpoints among the families are fair-esm's; reading them says
    // clearly if one is something else.
    return TorchFile::recognizes(path);
}

EsmModel build_model(const Checkpoint& checkpoint) {
    check_sizes_against_tensors(checkpoint);
    EsmModel model(checkpoint.config, checkpoint.tensors.contains(kContactWeight));
    load_strict(*model, checkpoint.tensors);
    if (checkpoint.config.version == Version::esm1b) {
        torch::NoGradGuard no_grad;
        model->embed_tokens->weight[kMaskToken].zero_();
    }
    return model;
}

Checkpoint read_checkpoint(const fs::path& path, bool with_contact_head) {
    const fs::path directory = huggingface_directory(path);
    if (is_huggingface_directory(directory)) {
        return read_hugging_face(directory, with_contact_head);
    }
    return read_fair_esm(path, with_contact_head);
}

}  // namespace embed::esm
