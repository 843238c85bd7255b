// Files written by torch.save (the zip format of PyTorch >= 1.6): fair-esm `.pt` checkpoints
// and Hugging Face `pytorch_model.bin`. The pickled object graph is read without Python; tensors
// stay on disk until a module asks for them.
#pragma once

#include <filesystem>
#include <memory>
#include <unordered_map>

#include "checkpoint/pickle.h"
#include "checkpoint/state_dict.h"
#include "checkpoint/zip_archive.h"

namespace embed {

/// The bytes of one storage inside a torch.save archive.
struct TorchStorage {
    std::shared_ptr<ReadOnlyFile> file;
    uint64_t offset;
    uint64_t numel;
    torch::Dtype dtype;
};

class TorchFile {
public:
    /// Whether `path` is a torch.save archive, from its zip directory alone (cheap). Throws
    /// std::runtime_error naming the file when it is a zip archive that cannot be read.
    static bool recognizes(const std::filesystem::path& path);

    /// Throws std::runtime_error naming the file when it is not a readable torch.save archive.
    explicit TorchFile(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const pickle::Value& root() const { return document_.root; }

    /// The tensors of `dict` (a state dict: str -> tensor; other entries are an error).
    StateDict state_dict(const pickle::Value& dict) const;

private:
    std::filesystem::path path_;
    std::unique_ptr<ZipArchive> archive_;
    pickle::Document document_;
    /// The storages met in the stream, by the placeholder object the unpickler holds for each.
    std::unordered_map<const pickle::Object*, TorchStorage> storages_;
};

}  // namespace embed
