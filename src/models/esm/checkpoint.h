// ESM checkpoints in the two formats users download: fair-esm `.pt` files and Hugging Face
// directories. Both are read into fair-esm's configuration and tensor names.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/state_dict.h"
#include "models/esm/config.h"
#include "models/esm/transformer.h"

namespace embed::esm {

struct Checkpoint {
    Config config;
    /// Encoder tensors under fair-esm's names without the "encoder.sentence_encoder." prefix,
    /// with the contact head's when the checkpoint has them (a .pt's sibling
    /// NAME-contact-regression.pt); the language-model head is left out.
    StateDict tensors;
    std::string name;
    std::string format;
    /// The files of the encoder's weights (not the separate contact regression file).
    std::vector<std::filesystem::path> weight_files;
};

/// Cheap check for find_model_family(): a torch.save file (fair-esm's format), or a Hugging Face
/// directory (or its weights file) whose config.json says model_type "esm".
bool is_esm_checkpoint(const std::filesystem::path& path);

/// Throws std::runtime_error naming the file and the problem. The contact head's weights are
/// read only `with_contact_head`: a damaged regression file must not stop plain embedding.
Checkpoint read_checkpoint(const std::filesystem::path& path, bool with_contact_head = false);

/// The encoder with the checkpoint's weights (and contact head, if it has one), loaded strictly
/// by name, with fair-esm's load-time change: ESM-1b's <mask> embedding row is zeroed (its
/// token dropout assumes it).
EsmModel build_model(const Checkpoint& checkpoint);

/// fair-esm name of a Hugging Face ESM tensor; nullopt for tensors the encoder does not use.
/// Unknown names come back unchanged, so strict loading reports them.
std::optional<std::string> fair_esm_name(const std::string& hugging_face_name);

}  // namespace embed::esm
