#include "hub/model_store.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "base/errors.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> environment(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::optional<std::string>(value) : std::nullopt;
}

fs::path home() {
    return environment("HOME").value_or(".");
}

fs::path xdg_cache() {
    return environment("XDG_CACHE_HOME").value_or((home() / ".cache").string());
}

bool non_empty_file(const fs::path& path) {
    std::error_code error;
    return fs::is_regular_file(path, error) && fs::file_size(path, error) > 0;
}

// A directory holding every required file of the card.
bool holds_model_files(const fs::path& directory, const ModelCard& card) {
    for (const ModelFile& file : card.files) {
        if (!file.optional && !non_empty_file(directory / file.name)) {
            return false;
        }
    }
    return true;
}

// The snapshot a Hugging Face cache directory points at (refs/main), or its newest one. A cache
// that cannot be read holds no model.
std::optional<fs::path> hugging_face_snapshot(const fs::path& repository) try {
    const fs::path snapshots = repository / "snapshots";
    std::error_code error;
    if (!fs::is_directory(snapshots, error)) {
        return std::nullopt;
    }
    std::ifstream main_ref(repository / "refs" / "main");
    std::string revision;
    if (main_ref >> revision && fs::is_directory(snapshots / revision, error)) {
        return snapshots / revision;
    }
    std::optional<fs::path> newest;
    for (const auto& entry : fs::directory_iterator(snapshots)) {
        if (entry.is_directory() &&
            (!newest || fs::last_write_time(entry.path()) > fs::last_write_time(*newest))) {
            newest = entry.path();
        }
    }
    return newest;
} catch (const fs::filesystem_error&) {
    return std::nullopt;
}

bool complete_hugging_face_directory(const fs::path& directory) {
    if (!non_empty_file(directory / "config.json")) {
        return false;
    }
    for (const char* weights : {"model.safetensors", "pytorch_model.bin",
                                "model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
        if (non_empty_file(directory / weights)) {
            return true;
        }
    }
    return false;
}

std::string missing_model_message(const ModelCard& card, const ModelLocations& locations,
                                  const std::string& reason) {
    std::string files;
    for (const ModelFile& file : card.files) {
        files +=
            "\n  " + file.urls.front() + (file.optional ? " (optional: " + file.purpose + ")" : "");
    }
    return "model " + card.name + " is not on this machine" + reason + ".\n" +
           "Download it where there is internet, with `embed download " + card.name + "` (into " +
           (locations.cache / card.name).string() + ") or by hand:" + files +
           "\nthen put the files in " + (locations.cache / card.name).string() +
           ", in a directory named by --model-dir or $EMBED_MODEL_DIR" +
           (card.checkpoint != "." ? ", or in " + locations.torch_hub.string() : "") +
           "; or give --model the path of the checkpoint.";
}

}  // namespace

ModelLocations ModelLocations::from_environment(const std::optional<fs::path>& model_dir) {
    ModelLocations locations;
    if (model_dir) {
        locations.model_dirs.push_back(*model_dir);
    }
    if (const auto dirs = environment("EMBED_MODEL_DIR")) {
        size_t start = 0;
        while (start <= dirs->size()) {
            const size_t colon = std::min(dirs->find(':', start), dirs->size());
            if (colon > start) {
                locations.model_dirs.emplace_back(dirs->substr(start, colon - start));
            }
            start = colon + 1;
        }
    }
    locations.cache =
        environment("EMBED_CACHE_DIR").value_or((xdg_cache() / "embed" / "models").string());
    const fs::path torch_home =
        environment("TORCH_HOME").value_or((xdg_cache() / "torch").string());
    locations.torch_hub = torch_home / "hub" / "checkpoints";
    if (const auto hub = environment("HF_HUB_CACHE")) {
        locations.hugging_face_hub = *hub;
    } else {
        locations.hugging_face_hub =
            fs::path(environment("HF_HOME").value_or((xdg_cache() / "huggingface").string())) /
            "hub";
    }
    return locations;
}

std::optional<fs::path> find_local_model(const ModelCard& card, const ModelLocations& locations) {
    const bool single_file = card.checkpoint != ".";
    std::vector<fs::path> directories = locations.model_dirs;
    directories.push_back(locations.cache);
    for (const fs::path& directory : directories) {
        // The card's own layout: a directory per model.
        if (holds_model_files(directory / card.name, card)) {
            return directory / card.name / card.checkpoint;
        }
        if (single_file && non_empty_file(directory / card.checkpoint)) {
            return directory / card.checkpoint;
        }
        if (complete_hugging_face_directory(directory / card.name)) {
            return directory / card.name;
        }
    }
    if (single_file && non_empty_file(locations.torch_hub / card.checkpoint)) {
        return locations.torch_hub / card.checkpoint;
    }
    if (!card.hugging_face.empty()) {
        std::string repository = "models--" + card.hugging_face;
        for (size_t slash = repository.find('/'); slash != std::string::npos;
             slash = repository.find('/')) {
            repository.replace(slash, 1, "--");
        }
        const std::optional<fs::path> snapshot =
            hugging_face_snapshot(locations.hugging_face_hub / repository);
        if (snapshot && complete_hugging_face_directory(*snapshot)) {
            return *snapshot;
        }
    }
    return std::nullopt;
}

fs::path download_model(const ModelCard& card, const fs::path& directory,
                        const DownloadOptions& options) {
    for (const ModelFile& file : card.files) {
        const ExpectedContent expected{file.size, file.sha256, file.md5};
        try {
            download_file(file.urls, directory / file.name, expected, options);
        } catch (const ChecksumError&) {
            throw;
        } catch (const std::runtime_error& e) {
            if (!file.optional) {
                throw;
            }
            spdlog::warn("{} (optional, for {}) not downloaded: {}", file.name, file.purpose,
                         e.what());
        }
    }
    return directory / card.checkpoint;
}

fs::path fetch_model(const std::string& name, const std::optional<fs::path>& directory,
                     const ModelLocations& locations) {
    const std::optional<ModelCard> card = find_model_card(name);
    if (!card) {
        throw BadInput(name +
                       ": not a released model's name (`embed models` lists "
                       "them)");
    }
    if (!directory) {
        if (const std::optional<fs::path> local = find_local_model(*card, locations)) {
            spdlog::info("{} is already here: {}", name, local->string());
            return *local;
        }
    }
    const fs::path path = download_model(*card, directory.value_or(locations.cache) / name);
    spdlog::info("{} downloaded: {}", name, path.string());
    return path;
}

std::optional<ModelCard> released_model(const std::string& model,
                                        const std::vector<ModelCard>& cards) {
    std::error_code error;
    if (fs::exists(model, error)) {
        return std::nullopt;
    }
    for (const ModelCard& card : cards) {
        if (card.name == model) {
            return card;
        }
    }
    throw BadInput("--model " + model +
                   ": no such file or directory, and not a released model's name "
                   "(`embed models` lists them)");
}

fs::path resolve_model(const std::string& model, const ModelLocations& locations, bool offline,
                       const std::vector<ModelCard>& cards) {
    const std::optional<ModelCard> card = released_model(model, cards);
    if (!card) {
        return model;
    }
    if (const std::optional<fs::path> local = find_local_model(*card, locations)) {
        spdlog::info("model {}: {}", card->name, local->string());
        return *local;
    }
    if (offline) {
        throw std::runtime_error(missing_model_message(*card, locations,
                                                       ", and --offline forbids "
                                                       "downloading it"));
    }
    try {
        return download_model(*card, locations.cache / card->name);
    } catch (const ChecksumError&) {
        throw;
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(missing_model_message(
            *card, locations, " and could not be downloaded: " + std::string(e.what())));
    }
}

}  // namespace embed
