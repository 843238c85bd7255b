// ESM-2 and ESM-1b as an Encoder, registered as the "ESM" model family.
#include <stdexcept>

#include "encode/encoder.h"
#include "encode/runtime.h"
#include "models/esm/alphabet.h"
#include "models/esm/checkpoint.h"
#include "models/esm/family.h"
#include "models/esm/transformer.h"

namespace embed::esm {
namespace {

constexpr int64_t kTrainedMaxResidues = 1022;

class EsmEncoder : public Encoder {
public:
    EsmEncoder(Checkpoint checkpoint, const std::filesystem::path& path, const LoadOptions& options)
        : model_(build_model(checkpoint)), device_(options.device) {
        model_->prepare(device_, options.dtype);

        const Config& config = checkpoint.config;
        info_.name = checkpoint.name;
        info_.family = config.family_name();
        info_.format = checkpoint.format;
        info_.checkpoint = path;
        info_.weight_files = checkpoint.weight_files;
        info_.num_layers = config.num_layers;
        info_.embed_dim = config.embed_dim;
        for (const torch::Tensor& p : model_->parameters()) {
            info_.parameters += p.numel();
        }
        if (config.version == Version::esm1b) {
            info_.max_residues = config.max_positions - kSpecialTokensPerSequence;
        }
        // Both were trained on crops of at most 1022 residues, which esm-extract also truncates
        // to; ESM-2 can read longer proteins when asked.
        info_.default_max_residues = kTrainedMaxResidues;
        info_.extra_tokens_per_sequence = kSpecialTokensPerSequence;
        info_.has_bos_token = true;
        info_.has_contact_head = static_cast<bool>(model_->contact_head);
    }

    const ModelInfo& info() const override { return info_; }

    EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                        const EncodeRequest& request) override {
        c10::InferenceMode inference;
        const torch::Tensor tokens_BT = tokenize(residues_B).to(device_);
        const int64_t longest = tokens_BT.size(1) - kSpecialTokensPerSequence;
        const EsmOutput output = model_->forward(tokens_BT, request.layers, request.contacts);

        std::vector<torch::Tensor> residues;
        std::vector<torch::Tensor> bos;
        for (const int64_t layer : request.layers) {
            const torch::Tensor& states_BTD = output.hidden.at(layer);
            residues.push_back(states_BTD.narrow(1, 1, longest));  // drop BOS, EOS and padding
            if (request.bos) {
                bos.push_back(states_BTD.select(1, 0));
            }
        }
        EncodedBatch out;
        out.residues_NBLD = torch::stack(residues).to(torch::kCPU, torch::kFloat32);
        if (request.bos) {
            out.bos_NBD = torch::stack(bos).to(torch::kCPU, torch::kFloat32);
        }
        if (request.contacts) {
            out.contacts_BLL = output.contacts_BLL.to(torch::kCPU, torch::kFloat32);
        }
        return out;
    }

private:
    EsmModel model_;
    torch::Device device_;
    ModelInfo info_;
};

}  // namespace

ModelFamily model_family() {
    return ModelFamily{
        "ESM",
        "ESM-2 or ESM-1b as a fair-esm .pt file, or a Hugging Face directory with "
        "config.json and model.safetensors or pytorch_model.bin",
        {"ESM-2", "ESM-1b", "ESM-1v"},
        Alphabet{"ESM", alphabet_description(), find_invalid_residue},
        is_esm_checkpoint,
        [](const std::filesystem::path& path, const LoadOptions& options) {
            return std::make_unique<EsmEncoder>(read_checkpoint(path, options.contacts), path,
                                                options);
        },
    };
}

}  // namespace embed::esm
