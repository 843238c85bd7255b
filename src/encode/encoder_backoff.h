// Stage 3 on a GPU that runs out of memory. Wraps an Encoder: a batch that does not fit is
// split in halves (and later batches of its size are split before they are tried), a single
// protein that does not fit runs on the CPU. Every step is logged; no protein is dropped.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "encode/encoder.h"

namespace embed {

class OutOfMemoryBackoff : public Encoder {
public:
    /// `cpu_fallback` loads the same model on the CPU; it is called at most once, when the
    /// first single protein does not fit.
    OutOfMemoryBackoff(std::unique_ptr<Encoder> device_encoder,
                       std::function<std::unique_ptr<Encoder>()> cpu_fallback);

    const ModelInfo& info() const override { return encoder_->info(); }
    EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                        const EncodeRequest& request) override;

    /// Proteins that ran on the CPU because they alone did not fit.
    size_t proteins_on_cpu() const { return proteins_on_cpu_; }

private:
    EncodedBatch encode_on_cpu(const std::vector<std::string_view>& residues_B,
                               const EncodeRequest& request);

    std::unique_ptr<Encoder> encoder_;
    std::function<std::unique_ptr<Encoder>()> load_cpu_fallback_;
    std::unique_ptr<Encoder> cpu_encoder_;
    /// Residues a batch may hold since the last out-of-memory error; none before the first.
    std::optional<int64_t> residue_ceiling_;
    size_t proteins_on_cpu_ = 0;
};

/// The batches' outputs side by side, in order, as one batch: rows padded to the longest
/// protein with zeros, as a single encode() would have padded them.
EncodedBatch concatenate_batches(const std::vector<EncodedBatch>& parts);

}  // namespace embed
