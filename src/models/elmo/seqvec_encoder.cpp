// SeqVec (an ELMo trained on UniRef50) as an Encoder, registered as the "SeqVec" family. Each
// residue is one ELMo word.
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "checkpoint/hdf5_weights.h"
#include "encode/encoder.h"
#include "encode/runtime.h"
#include "models/elmo/characters.h"
#include "models/elmo/elmo.h"
#include "models/elmo/family.h"

namespace embed::elmo {
namespace {

// The sentence boundaries around each protein.
constexpr int64_t kBoundaryTokens = 2;
constexpr int64_t kMaxTokens = 32768;

size_t find_non_letter(std::string_view residues) {
    for (size_t i = 0; i < residues.size(); ++i) {
        if (residues[i] < 'A' || residues[i] > 'Z') {
            return i;
        }
    }
    return std::string_view::npos;
}

bool every_layer_in_order(const std::vector<int64_t>& layers, int64_t count) {
    for (size_t i = 0; i < layers.size(); ++i) {
        if (layers[i] != static_cast<int64_t>(i)) {
            return false;
        }
    }
    return static_cast<int64_t>(layers.size()) == count;
}

std::string model_name(const std::filesystem::path& directory) {
    return std::filesystem::weakly_canonical(directory).filename().string();
}

class SeqVecEncoder : public Encoder {
public:
    SeqVecEncoder(const ElmoFiles& files, const std::filesystem::path& path,
                  const LoadOptions& options)
        : SeqVecEncoder(files, path, options, read_hdf5_weights(files.weights)) {}

    SeqVecEncoder(const ElmoFiles& files, const std::filesystem::path& path,
                  const LoadOptions& options, const StateDict& weights)
        : model_(checked_options(files, weights)), device_(options.device) {
        if (device_.is_cpu() && options.dtype == torch::kBFloat16) {
            // Measured on a CPU with AVX512_BF16 against float32: 626 residues/s against 841 on
            // the first 20 DeepLoc proteins, 1,185 against 1,167 on the first 200 (the LSTM's
            // steps lose their packed float32 weights), and per-protein vectors of the real-size
            // random-weight model at a cosine of 0.975 to float32's (the trained test ELMo:
            // 0.99999).
            spdlog::warn(
                "--dtype bfloat16: SeqVec on the CPU runs no faster in bfloat16 than in "
                "float32, and its LSTM carries the rounding from step to step (per-"
                "protein cosine to float32 down to 0.975 measured); use --dtype float32");
        }
        model_->load_weights(weights);
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
        model_->lstm->pack_weights();  // after the count: it frees the plain copies
        info_.extra_tokens_per_sequence = kBoundaryTokens;
        // Each LSTM step is one matrix product for the whole batch, which streams 80 MB of
        // weights at SeqVec's size: the more proteins share it, the nearer the CPU's peak.
        // About 28 KB a token: 1.6 GB at most for the process.
        info_.default_max_tokens = kMaxTokens;
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
        const torch::Tensor layers_LBTD = model_->forward(characters_BTC);
        const int64_t longest = characters_BTC.size(1) - 2;  // without the sentence boundaries
        const torch::Tensor selected_NBTD =
            every_layer_in_order(request.layers, layers_LBTD.size(0))
                ? layers_LBTD
                : layers_LBTD.index_select(0, torch::tensor(request.layers).to(device_));
        EncodedBatch out;
        // Drop the sentence boundaries: position 0 and each protein's last + 1.
        out.residues_NBLD = selected_NBTD.narrow(2, 1, longest).to(torch::kCPU, torch::kFloat32);
        return out;
    }

private:
    // The options, once the weights are known to have the sizes they claim: a damaged or
    // crafted options.json must not make a model of sizes the weights do not have.
    static Options checked_options(const ElmoFiles& files, const StateDict& weights) {
        Options options =
            parse_options(json::parse_file(files.options.string()), files.options.string());
        ElmoImpl::check_weights(options, files.options.string(), weights);
        return options;
    }

    Elmo model_;
    torch::Device device_;
    ModelInfo info_;
};

}  // namespace

ModelFamily model_family() {
    return ModelFamily{
        "SeqVec",
        "an ELMo directory (options.json with char_cnn and lstm, and weights.hdf5), "
        "as SeqVec is distributed",
        {"SeqVec"},
        Alphabet{"SeqVec", "letters A-Z: the character CNN reads any letter", find_non_letter},
        [](const std::filesystem::path& path) { return find_elmo_files(path).has_value(); },
        [](const std::filesystem::path& path, const LoadOptions& options) {
            return std::make_unique<SeqVecEncoder>(*find_elmo_files(path), path, options);
        },
    };
}

}  // namespace embed::elmo
