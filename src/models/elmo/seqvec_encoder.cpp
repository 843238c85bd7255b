// SeqVec (an ELMo trained on UniRef50) as an Encoder, registered as the "SeqVec" family. Each
// residue is one ELMo word.
#include <stdexcept>

#include "embed/checkpoint/hdf5_weights.h"
#include "embed/encoder.h"
#include "embed/runtime.h"
#include "models/elmo/characters.h"
#include "models/elmo/elmo.h"

namespace embed::elmo {
namespace {

// The sentence boundaries around each protein.
constexpr int64_t kBoundaryTokens = 2;

size_t find_non_letter(std::string_view residues) {
    for (size_t i = 0; i < residues.size(); ++i) {
        if (residues[i] < 'A' || residues[i] > 'Z') {
            return i;
        }
    }
    return std::string_view::npos;
}

std::string model_name(const std::filesystem::path& directory) {
    return std::filesystem::weakly_canonical(directory).filename().string();
}

class SeqVecEncoder : public Encoder {
public:
    SeqVecEncoder(const ElmoFiles& files, const std::filesystem::path& path,
                  const LoadOptions& options)
        : model_(parse_options(json::parse_file(files.options.string()), files.options.string())),
          device_(options.device) {
        model_->load_weights(read_hdf5_weights(files.weights));
        model_->to(device_);
        cast_parameters(*model_, options.dtype);
        model_->eval();

        const Options& o = model_->options();
        info_.name = model_name(files.weights.parent_path());
        info_.family = "SeqVec";
        info_.format = "ELMo options.json + weights.hdf5";
        info_.checkpoint = path;
        info_.weight_files = {files.weights};
        info_.num_layers = o.lstm_layers;
        info_.embed_dim = 2 * o.projection_dim;
        for (const torch::Tensor& p : model_->parameters()) {
            info_.parameters += p.numel();
        }
        info_.extra_tokens_per_sequence = kBoundaryTokens;
        // bio_embeddings' convention: per residue the sum of the layers, per protein its mean.
        info_.default_layers = "sum";
    }

    const ModelInfo& info() const override { return info_; }

    EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                        const EncodeRequest& request) override {
        if (request.bos || request.contacts) {
            throw std::logic_error("SeqVec has no BOS token and no contact head");
        }
        c10::InferenceMode inference;
        std::vector<std::vector<std::string_view>> words_B;
        for (const std::string_view residues : residues_B) {
            std::vector<std::string_view> words;
            for (size_t i = 0; i < residues.size(); ++i) {
                words.push_back(residues.substr(i, 1));
            }
            words_B.push_back(std::move(words));
        }
        const torch::Tensor characters_BTC =
            sentence_characters(words_B, model_->options().max_characters_per_token).to(device_);
        const std::vector<torch::Tensor> layers = model_->forward(characters_BTC);
        const int64_t longest = characters_BTC.size(1) - 2;  // without the sentence boundaries

        std::vector<torch::Tensor> selected;
        for (const int64_t layer : request.layers) {
            // Drop the sentence boundaries: position 0 and each protein's last + 1.
            selected.push_back(layers.at(static_cast<size_t>(layer)).narrow(1, 1, longest));
        }
        EncodedBatch out;
        out.residues_NBLD = torch::stack(selected).to(torch::kCPU, torch::kFloat32);
        return out;
    }

private:
    Elmo model_;
    torch::Device device_;
    ModelInfo info_;
};

}  // namespace

EMBED_REGISTER_MODEL_FAMILY(
    seqvec,
    ModelFamily{
        "SeqVec",
        "an ELMo directory (options.json with char_cnn and lstm, and weights.hdf5), "
        "as SeqVec is distributed",
        {"SeqVec"},
        Alphabet{"SeqVec", "letters A-Z: the character CNN reads any letter", find_non_letter},
        [](const std::filesystem::path& path) { return find_elmo_files(path).has_value(); },
        [](const std::filesystem::path& path, const LoadOptions& options) {
            return std::make_unique<SeqVecEncoder>(*find_elmo_files(path), path, options);
        },
    });

}  // namespace embed::elmo
