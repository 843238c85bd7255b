// Stage 0: from --model to a checkpoint on disk. A path is used as it is; a released model's
// name (models/*.json) is looked for where users already keep models, and downloaded into the
// project's cache when it is nowhere.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/download.h"
#include "hub/model_registry.h"

namespace embed {

/// Where models are looked for, in this order, and where downloads go.
struct ModelLocations {
    /// --model-dir, then $EMBED_MODEL_DIR (':'-separated): NAME.pt, NAME/ or NAME/<files>.
    std::vector<std::filesystem::path> model_dirs;
    /// The project's cache, where downloads go: $EMBED_CACHE_DIR, else
    /// $XDG_CACHE_HOME/embed/models, else ~/.cache/embed/models; a directory per model.
    std::filesystem::path cache;
    /// fair-esm's: $TORCH_HOME/hub/checkpoints, else $XDG_CACHE_HOME/torch/..., else
    /// ~/.cache/torch/hub/checkpoints.
    std::filesystem::path torch_hub;
    /// Hugging Face's: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
    std::filesystem::path hugging_face_hub;

    /// From the environment, with `model_dir` (--model-dir) first when given.
    static ModelLocations from_environment(const std::optional<std::filesystem::path>& model_dir);
};

/// Where the released model is on this machine, if anywhere: the checkpoint path to load.
std::optional<std::filesystem::path> find_local_model(const ModelCard& card,
                                                      const ModelLocations& locations);

/// Downloads the card's files into `directory` (a file's mirrors in order; an optional file
/// that fails is a warning) and returns the checkpoint path to load.
std::filesystem::path download_model(const ModelCard& card, const std::filesystem::path& directory,
                                     const DownloadOptions& options = {});

/// `embed download NAME`: the released model's checkpoint path, downloaded into `directory`
/// (--model-dir; else the cache) unless, with no directory asked for, it is already here.
/// Throws BadInput for an unknown name, std::runtime_error when a download fails.
std::filesystem::path fetch_model(const std::string& name,
                                  const std::optional<std::filesystem::path>& directory,
                                  const ModelLocations& locations);

/// The card of --model when it names a released model, nullopt when it is an existing path;
/// throws BadInput when it is neither.
std::optional<ModelCard> released_model(const std::string& model,
                                        const std::vector<ModelCard>& cards = model_cards());

/// --model: an existing path as it is; otherwise a model name, found locally or downloaded into
/// locations.cache (unless `offline`). Throws BadInput for an unknown name, and
/// std::runtime_error, saying what to download and where to put it, when the model is not here
/// and cannot be fetched.
std::filesystem::path resolve_model(const std::string& model, const ModelLocations& locations,
                                    bool offline,
                                    const std::vector<ModelCard>& cards = model_cards());

}  // namespace embed
