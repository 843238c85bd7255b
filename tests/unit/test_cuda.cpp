// The models on a CUDA GPU against the CPU, in every --dtype, and the out-of-memory back-off
// with out-of-memory errors raised by the CUDA allocator itself. Skipped, saying so, where
// LibTorch sees no GPU (CI); run on a GPU machine with a CUDA build of LibTorch.
#include <gtest/gtest.h>

#include "encode/encoder.h"
#include "encode/encoder_backoff.h"
#include "encode/layers.h"
#include "input/fasta.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::data_file;
using testing::max_abs_diff;

// The tiny models of tests/data: each family, each file format.
std::vector<std::filesystem::path> models() {
    return {data_file("esm2_tiny_pytorch_bin"), data_file("esm2_tiny/esm2_tiny.pt"),
            data_file("esm1b_tiny/esm1b_tiny.pt"), data_file("seqvec_tiny")};
}

const std::vector<std::string_view>& proteins() {
    static const std::vector<std::string_view> kProteins = {
        "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ",
        "GIGAVLKVLTTGLPALISWIKRKRQQ", "MALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKT"};
    return kProteins;
}

// Protein b's rows of a batch's output (N, L, D), its padding left out.
torch::Tensor rows_of(const EncodedBatch& batch, size_t b) {
    return batch.residues_NBLD.select(1, static_cast<int64_t>(b))
        .narrow(1, 0, static_cast<int64_t>(proteins()[b].size()));
}

// Over the proteins of two outputs for proteins(): the largest absolute difference, and the
// smallest cosine similarity per residue and per protein (the mean over residues).
struct Agreement {
    double max_abs_diff = 0;
    double residue_cosine = 1;
    double protein_cosine = 1;
};

Agreement compare(const EncodedBatch& a, const EncodedBatch& b) {
    Agreement out;
    for (size_t i = 0; i < proteins().size(); ++i) {
        const torch::Tensor x = rows_of(a, i);
        const torch::Tensor y = rows_of(b, i);
        out.max_abs_diff = std::max(out.max_abs_diff, max_abs_diff(x, y));
        out.residue_cosine = std::min(out.residue_cosine, testing::min_cosine(x, y));
        out.protein_cosine =
            std::min(out.protein_cosine, testing::min_cosine(x.mean(1), y.mean(1)));
    }
    return out;
}

EncodeRequest all_layers(const Encoder& encoder) {
    EncodeRequest request;
    request.layers = resolve_layers("all", encoder.info().num_layers).layers;
    request.contacts = encoder.info().has_contact_head;
    return request;
}

class Cuda : public ::testing::Test {
protected:
    void SetUp() override {
        if (!torch::cuda::is_available()) {
            GTEST_SKIP()
                << "no CUDA device visible to LibTorch: the GPU tests run on a GPU machine";
        }
    }
};

TEST_F(Cuda, EveryModelMatchesTheCpuInEveryDtype) {
    for (const std::filesystem::path& model : models()) {
        SCOPED_TRACE(model.string());
        LoadOptions cpu_options;
        cpu_options.contacts = true;
        const auto cpu = load_encoder(model, cpu_options);
        const EncodeRequest request = all_layers(*cpu);
        const EncodedBatch expected = cpu->encode(proteins(), request);
        for (const torch::ScalarType dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
            SCOPED_TRACE(c10::toString(dtype));
            LoadOptions gpu_options = cpu_options;
            gpu_options.device = torch::Device(torch::kCUDA, 0);
            gpu_options.dtype = dtype;
            const auto gpu = load_encoder(model, gpu_options);
            const EncodedBatch got = gpu->encode(proteins(), request);
            ASSERT_TRUE(got.residues_NBLD.device().is_cpu()) << "results come back to the CPU";
            ASSERT_EQ(got.residues_NBLD.sizes(), expected.residues_NBLD.sizes());
            const Agreement agreement = compare(got, expected);
            if (dtype == torch::kFloat32) {
                // TF32 is off by default for matrix products in LibTorch.
                EXPECT_LT(agreement.max_abs_diff, 1e-3);
            } else {
                EXPECT_GT(agreement.residue_cosine, 0.999);
                EXPECT_GT(agreement.protein_cosine, 0.9999);
            }
            if (request.contacts) {
                for (size_t b = 0; b < proteins().size(); ++b) {
                    const auto length = static_cast<int64_t>(proteins()[b].size());
                    const auto contacts = [&](const EncodedBatch& out) {
                        return out.contacts_BLL[static_cast<int64_t>(b)]
                            .narrow(0, 0, length)
                            .narrow(1, 0, length);
                    };
                    EXPECT_LT(max_abs_diff(contacts(got), contacts(expected)), 0.01);
                }
            }
        }
    }
}

// The device encoder, made to run out of memory for real: before batches over `budget`
// proteins it asks the CUDA allocator for more memory than any GPU has.
class StarvedEncoder : public Encoder {
public:
    StarvedEncoder(std::unique_ptr<Encoder> encoder, int64_t budget)
        : encoder_(std::move(encoder)), budget_(budget) {}
    const ModelInfo& info() const override { return encoder_->info(); }
    EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                        const EncodeRequest& request) override {
        if (static_cast<int64_t>(residues_B.size()) > budget_) {
            const torch::Tensor terabyte = torch::empty(
                {int64_t{1} << 40}, torch::TensorOptions(torch::kCUDA).dtype(torch::kByte));
            ADD_FAILURE() << "allocated " << terabyte.numel() << " bytes on the GPU";
        }
        return encoder_->encode(residues_B, request);
    }

private:
    std::unique_ptr<Encoder> encoder_;
    int64_t budget_;
};

TEST_F(Cuda, TheBackOffSurvivesTheAllocatorsOutOfMemoryErrors) {
    const std::filesystem::path model = testing::data_file("esm2_tiny_pytorch_bin");
    const auto cpu = load_encoder(model, LoadOptions{});
    const EncodeRequest request = all_layers(*cpu);
    const std::vector<std::string_view>& residues = proteins();
    const EncodedBatch expected = cpu->encode(residues, request);

    LoadOptions gpu_options;
    gpu_options.device = torch::Device(torch::kCUDA, 0);
    for (const int64_t budget : {2, 0}) {  // halving, then every protein on the CPU
        SCOPED_TRACE("proteins that fit: " + std::to_string(budget));
        OutOfMemoryBackoff backoff(
            std::make_unique<StarvedEncoder>(load_encoder(model, gpu_options), budget),
            [&] { return load_encoder(model, LoadOptions{}); });
        const EncodedBatch got = backoff.encode(residues, request);
        EXPECT_LT(compare(got, expected).max_abs_diff, 1e-3);
        EXPECT_EQ(backoff.proteins_on_cpu(), budget == 0 ? residues.size() : 0u);
        // The GPU still works after its allocator failed.
        EXPECT_LT(max_abs_diff(backoff.encode({residues[1]}, request).residues_NBLD,
                               cpu->encode({residues[1]}, request).residues_NBLD),
                  1e-3);
    }
}

}  // namespace
}  // namespace embed
