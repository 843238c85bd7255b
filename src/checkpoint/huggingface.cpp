#include "checkpoint/huggingface.h"

#include <set>
#include <stdexcept>

#include "base/errors.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/torch_file.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

StateDict read_weight_file(const fs::path& file) {
    if (file.extension() == ".safetensors") {
        return read_safetensors(file);
    }
    TorchFile torch_file(file);
    return torch_file.state_dict(torch_file.root());
}

// Shards named by `<weights>.index.json` ({"weight_map": {tensor: shard file}}), in name order.
std::vector<fs::path> shards_from_index(const fs::path& index_file) {
    const nlohmann::json index = json::parse_file(index_file.string());
    std::set<std::string> shards;
    try {
        for (const auto& [tensor, shard] : json::as_object(json::at(index, "weight_map"))) {
            shards.insert(json::as_string(shard));
        }
    } catch (const std::runtime_error& e) {
        throw FileError(Location{index_file.string()}, e.what());
    }
    std::vector<fs::path> out;
    for (const std::string& shard : shards) {
        // Shards live beside the index; a name that reaches elsewhere is not a shard.
        if (shard.empty() || shard.find('/') != std::string::npos || shard == "." ||
            shard == "..") {
            throw std::runtime_error(index_file.string() + ": shard name '" + shard +
                                     "' is not a file name in this directory");
        }
        out.push_back(index_file.parent_path() / shard);
    }
    return out;
}

std::string model_name(const fs::path& directory, const nlohmann::json& config) {
    const fs::path canonical = fs::weakly_canonical(directory);
    // Hub cache: .../models--facebook--esm2_t6_8M_UR50D/snapshots/<revision>
    if (canonical.parent_path().filename() == "snapshots") {
        const std::string repo = canonical.parent_path().parent_path().filename().string();
        const size_t separator = repo.rfind("--");
        if (repo.rfind("models--", 0) == 0 && separator != std::string::npos) {
            return repo.substr(separator + 2);
        }
    }
    if (const nlohmann::json* name = json::find(config, "_name_or_path");
        name != nullptr && name->is_string() && !json::as_string(*name).empty()) {
        return fs::path(json::as_string(*name)).filename().string();
    }
    return canonical.filename().string();
}

}  // namespace

bool is_huggingface_directory(const fs::path& directory) {
    return fs::is_directory(directory) && fs::is_regular_file(directory / "config.json");
}

HuggingFaceCheckpoint read_huggingface_directory(const fs::path& directory) {
    HuggingFaceCheckpoint out;
    out.config = json::parse_file((directory / "config.json").string());
    out.name = model_name(directory, out.config);

    for (const char* single : {"model.safetensors", "pytorch_model.bin"}) {
        const fs::path file = directory / single;
        const fs::path index = directory / (std::string(single) + ".index.json");
        if (fs::exists(file)) {
            out.weight_files = {file};
        } else if (fs::exists(index)) {
            out.weight_files = shards_from_index(index);
        } else {
            continue;
        }
        break;
    }
    if (out.weight_files.empty()) {
        throw std::runtime_error(directory.string() +
                                 ": no weights found (expected model.safetensors, "
                                 "pytorch_model.bin, or a sharded *.index.json)");
    }
    out.tensors = StateDict(directory.string());
    for (const fs::path& file : out.weight_files) {
        out.tensors.merge(read_weight_file(file));
    }
    return out;
}

}  // namespace embed
