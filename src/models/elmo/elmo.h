// The whole ELMo: character CNN token embeddings under a bidirectional LSTM language model,
// loaded from bilm-tf's options.json + weights.hdf5 as SeqVec is distributed.
#pragma once

#include <filesystem>
#include <vector>

#include <torch/torch.h>

#include "models/elmo/bilm.h"
#include "models/elmo/char_cnn.h"
#include "models/elmo/options.h"

namespace embed::elmo {

class ElmoImpl : public torch::nn::Module {
public:
    explicit ElmoImpl(const Options& options);

    /// Every layer's states (1 + LSTM layers, B, T, 2 * projection) for character ids
    /// (B, T, characters) of sentences wrapped in their boundary tokens, as
    /// elmo::sentence_characters makes them: layer 0 is the token embedding twice, layer k the
    /// k-th LSTM's [forward, backward]. Positions past a sentence's end are zero.
    torch::Tensor forward(const torch::Tensor& characters_BTC);

    /// Throws std::runtime_error unless `weights` hold every dataset `options` imply, with
    /// its shape, and no other, naming `options_source` and the weights' file, each tensor and
    /// both shapes. It reads shapes only: call it before making a model of the options' sizes.
    static void check_weights(const Options& options, const std::string& options_source,
                              const StateDict& weights);

    /// Reads bilm-tf's weights strictly, as check_weights describes.
    void load_weights(const StateDict& weights);

    const Options& options() const { return options_; }

    CharacterEncoder char_cnn{nullptr};
    BiLstm lstm{nullptr};

private:
    Options options_;
};
TORCH_MODULE(Elmo);

/// The options.json and weights file of an ELMo directory (or of one of its two files).
struct ElmoFiles {
    std::filesystem::path options;
    std::filesystem::path weights;
};

/// nullopt unless `path` is an ELMo directory, its options.json or its weights file:
/// options.json with "char_cnn" and "lstm", beside weights.hdf5 (or a single other .hdf5).
std::optional<ElmoFiles> find_elmo_files(const std::filesystem::path& path);

}  // namespace embed::elmo
