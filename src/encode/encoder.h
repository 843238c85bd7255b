// Stage 3: the protein language model. Every model family implements Encoder; the pipeline,
// pooling and writer never see which one it is. A family lives in its own folder under
// src/models/ and is listed in src/models/families.cpp.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "input/alphabet.h"

namespace embed {

/// Facts about a loaded model that the rest of the tool needs.
struct ModelInfo {
    std::string name;                  ///< e.g. "esm2_t33_650M_UR50D"
    std::string family;                ///< e.g. "ESM-2"
    std::string format;                ///< e.g. "fair-esm .pt", "Hugging Face directory"
    std::filesystem::path checkpoint;  ///< the file or directory it was loaded from
    /// The files that hold the weights, in order (their SHA-256 identifies the model).
    std::vector<std::filesystem::path> weight_files;
    int64_t num_layers = 0;  ///< representations are numbered 0 (embeddings) .. num_layers
    int64_t embed_dim = 0;
    int64_t parameters = 0;
    /// Longest input the model can read at all (learned positions), if it is limited.
    std::optional<int64_t> max_residues;
    /// --max-length when none is given: the longest input the model was trained on, if any.
    std::optional<int64_t> default_max_residues;
    /// --layers when none is given: "" for the last layer, or e.g. "sum".
    std::string default_layers;
    /// --max-tokens when none is given: large enough for the model's matrix products to run
    /// near the machine's peak, small enough for a laptop's memory.
    int64_t default_max_tokens = 4096;
    /// Special tokens around each sequence (BOS, EOS); they count against the token budget.
    int64_t extra_tokens_per_sequence = 0;
    bool has_bos_token = false;
    /// Whether encode() can predict contacts (ESM with its contact regression weights).
    bool has_contact_head = false;
};

/// Which hidden states encode() returns.
struct EncodeRequest {
    std::vector<int64_t> layers;  ///< in 0..num_layers, in the order the output wants them
    bool bos = false;             ///< also return the BOS token's state for each layer
    bool contacts = false;        ///< also predict contacts (needs has_contact_head)
};

/// Hidden states of one batch: float32, on the CPU.
struct EncodedBatch {
    /// (layers, batch, longest, dim); rows past a protein's length are padding.
    torch::Tensor residues_NBLD;
    /// (layers, batch, dim) when the request asked for it, else undefined.
    torch::Tensor bos_NBD;
    /// Contact probabilities (batch, longest, longest) when asked for, else undefined.
    torch::Tensor contacts_BLL;
};

class Encoder {
public:
    virtual ~Encoder() = default;

    virtual const ModelInfo& info() const = 0;
    /// Embeds a batch of proteins (residues in the family's alphabet, within max_residues). The
    /// result for a protein does not depend on the other proteins in the batch.
    virtual EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                                const EncodeRequest& request) = 0;
};

struct LoadOptions {
    torch::Device device = torch::kCPU;
    /// What the model computes in (its parameters' type); outputs are float32 regardless.
    torch::ScalarType dtype = torch::kFloat32;
    /// Load the contact head too (ESM); without it the contact weights are not even read.
    bool contacts = false;
};

/// A model family: how to recognise its checkpoints, what input it reads, how to load it.
struct ModelFamily {
    std::string name;
    /// Checkpoint formats, for the message when no family recognises a path.
    std::string formats;
    /// The model cards' family names it loads ("ESM-2", ...), so that input can be checked
    /// against a named model's alphabet before it is downloaded.
    std::vector<std::string> card_families;
    Alphabet alphabet;
    /// Whether `checkpoint` is this family's, from a cheap look at the files (names, magic
    /// numbers, config.json); the weights are not read.
    std::function<bool(const std::filesystem::path&)> recognizes;
    /// Reads the checkpoint; throws std::runtime_error naming the file and the problem.
    std::function<std::unique_ptr<Encoder>(const std::filesystem::path&, const LoadOptions&)> load;
};

}  // namespace embed
