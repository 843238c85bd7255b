#include "encode/encoder_backoff.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace embed {
namespace {

// What a batch costs the device: its tokens, padding included.
int64_t padded_residues(const std::vector<std::string_view>& residues_B) {
    size_t longest = 0;
    for (const std::string_view r : residues_B) {
        longest = std::max(longest, r.size());
    }
    return static_cast<int64_t>(longest * residues_B.size());
}

torch::Tensor pad_rows(const torch::Tensor& t, int64_t dim, int64_t rows) {
    const int64_t missing = rows - t.size(dim);
    if (missing == 0) {
        return t;
    }
    // constant_pad_nd lists (before, after) pairs from the last dimension backwards.
    std::vector<int64_t> pad(static_cast<size_t>(2 * (t.dim() - dim)), 0);
    pad.back() = missing;
    return torch::constant_pad_nd(t, pad, 0.0);
}

}  // namespace

OutOfMemoryBackoff::OutOfMemoryBackoff(std::unique_ptr<Encoder> device_encoder,
                                       std::function<std::unique_ptr<Encoder>()> cpu_fallback)
    : encoder_(std::move(device_encoder)), load_cpu_fallback_(std::move(cpu_fallback)) {}

EncodedBatch OutOfMemoryBackoff::encode(const std::vector<std::string_view>& residues_B,
                                        const EncodeRequest& request) {
    const int64_t cost = padded_residues(residues_B);
    const auto halves = [&] {
        const auto middle = residues_B.begin() + static_cast<std::ptrdiff_t>(residues_B.size() / 2);
        return concatenate_batches({encode({residues_B.begin(), middle}, request),
                                    encode({middle, residues_B.end()}, request)});
    };
    if (residues_B.size() > 1 && residue_ceiling_ && cost > *residue_ceiling_) {
        return halves();
    }
    try {
        return encoder_->encode(residues_B, request);
    } catch (const c10::OutOfMemoryError&) {
        if (residues_B.size() == 1) {
            spdlog::warn(
                "out of device memory on a single protein of {} residues: it runs on "
                "the CPU",
                residues_B.front().size());
            return encode_on_cpu(residues_B, request);
        }
        residue_ceiling_ = std::min(residue_ceiling_.value_or(cost), cost / 2);
        spdlog::warn(
            "out of device memory on a batch of {} proteins ({} padded residues): split in "
            "halves, and batches over {} padded residues will be split from now on",
            residues_B.size(), cost, *residue_ceiling_);
        return halves();
    }
}

EncodedBatch OutOfMemoryBackoff::encode_on_cpu(const std::vector<std::string_view>& residues_B,
                                               const EncodeRequest& request) {
    if (!cpu_encoder_) {
        spdlog::info("loading {} on the CPU for proteins too long for the device",
                     encoder_->info().name);
        cpu_encoder_ = load_cpu_fallback_();
    }
    proteins_on_cpu_ += residues_B.size();
    return cpu_encoder_->encode(residues_B, request);
}

EncodedBatch concatenate_batches(const std::vector<EncodedBatch>& parts) {
    int64_t longest = 0;
    for (const EncodedBatch& part : parts) {
        longest = std::max(longest, part.residues_NBLD.size(2));
    }
    std::vector<torch::Tensor> residues;
    std::vector<torch::Tensor> bos;
    std::vector<torch::Tensor> contacts;
    for (const EncodedBatch& part : parts) {
        residues.push_back(pad_rows(part.residues_NBLD, 2, longest));
        if (part.bos_NBD.defined()) {
            bos.push_back(part.bos_NBD);
        }
        if (part.contacts_BLL.defined()) {
            contacts.push_back(pad_rows(pad_rows(part.contacts_BLL, 1, longest), 2, longest));
        }
    }
    EncodedBatch out;
    out.residues_NBLD = torch::cat(residues, 1);
    if (!bos.empty()) {
        out.bos_NBD = torch::cat(bos, 1);
    }
    if (!contacts.empty()) {
        out.contacts_BLL = torch::cat(contacts, 0);
    }
    return out;
}

}  // namespace embed
