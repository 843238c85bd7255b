// Hugging Face model directories as `save_pretrained` writes them and the hub caches them:
// config.json beside model.safetensors or pytorch_model.bin (either possibly sharded, with an
// index.json naming the shards).
#pragma once

#include <filesystem>
#include <vector>

#include "base/json.h"
#include "checkpoint/state_dict.h"

namespace embed {

struct HuggingFaceCheckpoint {
    /// The model's name: from the hub cache path (models--org--NAME/snapshots/...), else from
    /// config.json's _name_or_path, else the directory name.
    std::string name;
    nlohmann::json config;
    StateDict tensors;
    std::vector<std::filesystem::path> weight_files;
};

/// True when `directory` holds a config.json.
bool is_huggingface_directory(const std::filesystem::path& directory);

/// Reads config.json and indexes the weights (safetensors preferred); tensors are read later.
HuggingFaceCheckpoint read_huggingface_directory(const std::filesystem::path& directory);

}  // namespace embed
