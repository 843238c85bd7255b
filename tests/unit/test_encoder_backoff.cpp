// The out-of-memory back-off, with the device's failure simulated on the CPU: an encoder that
// throws LibTorch's OutOfMemoryError for batches over a token budget.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "encode/encoder_backoff.h"

#include "test_support.h"

namespace embed {
namespace {

constexpr int64_t kDim = 3;

// Deterministic hidden states: residue i of a protein gets (code of its letter, i, source).
class FakeEncoder : public Encoder {
public:
    FakeEncoder(float source, int64_t budget) : source_(source), budget_(budget) {
        info_.name = "fake";
        info_.num_layers = 1;
        info_.embed_dim = kDim;
    }
    const ModelInfo& info() const override { return info_; }

    EncodedBatch encode(const std::vector<std::string_view>& residues_B,
                        const EncodeRequest& request) override {
        size_t longest = 0;
        for (const std::string_view r : residues_B) {
            longest = std::max(longest, r.size());
        }
        const auto batch = static_cast<int64_t>(residues_B.size());
        const auto length = static_cast<int64_t>(longest);
        calls.push_back(batch);
        if (batch * length > budget_) {
            ++failures;
            throw c10::OutOfMemoryError({__func__, __FILE__, __LINE__},
                                        "CUDA out of memory (simulated)");
        }
        EncodedBatch out;
        out.residues_NBLD = torch::zeros({1, batch, length, kDim});
        out.bos_NBD = torch::zeros({1, batch, kDim});
        out.contacts_BLL = torch::zeros({batch, length, length});
        for (int64_t b = 0; b < batch; ++b) {
            const std::string_view r = residues_B[static_cast<size_t>(b)];
            for (int64_t i = 0; i < static_cast<int64_t>(r.size()); ++i) {
                out.residues_NBLD[0][b][i] =
                    torch::tensor({static_cast<float>(r[static_cast<size_t>(i)]),
                                   static_cast<float>(i), source_});
                out.contacts_BLL[b][i][i] = static_cast<float>(r.size());
            }
            out.bos_NBD[0][b] = static_cast<float>(r.front()) * source_;
        }
        if (!request.bos) {
            out.bos_NBD = torch::Tensor();
        }
        if (!request.contacts) {
            out.contacts_BLL = torch::Tensor();
        }
        return out;
    }

    std::vector<int64_t> calls;
    int failures = 0;

private:
    float source_;
    int64_t budget_;
    ModelInfo info_;
};

constexpr float kDevice = 1;
constexpr float kCpu = 2;

struct Backoff {
    explicit Backoff(int64_t budget) {
        auto device = std::make_unique<FakeEncoder>(kDevice, budget);
        fake = device.get();
        encoder = std::make_unique<OutOfMemoryBackoff>(std::move(device), [this] {
            ++cpu_loads;
            return std::make_unique<FakeEncoder>(kCpu, 1 << 30);
        });
    }
    FakeEncoder* fake;
    int cpu_loads = 0;
    std::unique_ptr<OutOfMemoryBackoff> encoder;
};

// Logs of the code under test, to check that each step is reported.
class LogCapture {
public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100)) {
        previous_ = spdlog::default_logger();
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const {
        std::string out;
        for (const std::string& line : sink_->last_formatted()) {
            out += line;
        }
        return out;
    }

private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> previous_;
};

const std::vector<std::string_view> kProteins = {"MKTAYIAK", "MKV", "ACDEFGHIKL", "MM", "WYV"};

TEST(OutOfMemoryBackoff, ABatchThatFitsRunsOnce) {
    Backoff b(1000);
    const EncodedBatch out = b.encoder->encode(kProteins, EncodeRequest{{1}, true, true});
    EXPECT_EQ(b.fake->calls, std::vector<int64_t>({5}));
    EXPECT_EQ(b.cpu_loads, 0);
    EXPECT_EQ(out.residues_NBLD.sizes(), torch::IntArrayRef({1, 5, 10, kDim}));
}

TEST(OutOfMemoryBackoff, HalvesUntilItFitsAndKeepsEveryProteinInPlace) {
    FakeEncoder reference(kDevice, 1 << 30);
    const EncodeRequest request{{1}, true, true};
    const EncodedBatch expected = reference.encode(kProteins, request);

    LogCapture log;
    Backoff b(20);  // 5 x 10 fails; 2 x 8 fits; 3 x 10 is split at once: 1 x 10 and 2 x 3 fit
    const EncodedBatch out = b.encoder->encode(kProteins, request);
    EXPECT_EQ(b.cpu_loads, 0);
    EXPECT_EQ(b.fake->failures, 1);
    EXPECT_TRUE(torch::equal(out.residues_NBLD, expected.residues_NBLD));
    EXPECT_TRUE(torch::equal(out.bos_NBD, expected.bos_NBD));
    EXPECT_TRUE(torch::equal(out.contacts_BLL, expected.contacts_BLL));
    EXPECT_TRUE(testing::contains(log.text(), "out of device memory on a batch of 5 proteins"))
        << log.text();
}

TEST(OutOfMemoryBackoff, LaterBatchesOfTheFailedSizeAreSplitBeforeTheyAreTried) {
    Backoff b(30);
    b.encoder->encode(kProteins, EncodeRequest{{1}, false, false});  // 50 fails: ceiling 25
    const int failures = b.fake->failures;
    b.fake->calls.clear();
    const EncodedBatch out =
        b.encoder->encode({"MKTAYIAKQR", "ACDEFGHIKL", "MKV"}, EncodeRequest{{1}, false, false});
    EXPECT_EQ(b.fake->failures, failures) << "split before trying: no new failure";
    EXPECT_EQ(b.fake->calls, std::vector<int64_t>({1, 2}));
    EXPECT_EQ(out.residues_NBLD.size(1), 3);
    EXPECT_FALSE(out.bos_NBD.defined());
    EXPECT_FALSE(out.contacts_BLL.defined());
}

TEST(OutOfMemoryBackoff, AProteinTooLongAloneRunsOnTheCpuModelLoadedOnce) {
    LogCapture log;
    Backoff b(6);  // "MKTAYIAK" (8) and "ACDEFGHIKL" (10) never fit
    const EncodedBatch out = b.encoder->encode(kProteins, EncodeRequest{{1}, true, false});
    EXPECT_EQ(b.cpu_loads, 1);
    EXPECT_EQ(b.encoder->proteins_on_cpu(), 2u);
    const torch::Tensor source_B = out.residues_NBLD[0].select(2, 2).select(1, 0);
    EXPECT_TRUE(torch::equal(source_B, torch::tensor({kCpu, kDevice, kCpu, kDevice, kDevice})))
        << source_B;
    // Each protein's rows are its own, padded with zeros past its length.
    for (size_t b_index = 0; b_index < kProteins.size(); ++b_index) {
        const auto length = static_cast<int64_t>(kProteins[b_index].size());
        const torch::Tensor rows = out.residues_NBLD[0][static_cast<int64_t>(b_index)];
        EXPECT_EQ(rows.select(1, 0)[0].item<float>(), static_cast<float>(kProteins[b_index][0]));
        EXPECT_EQ(rows.narrow(0, length, rows.size(0) - length).abs().sum().item<float>(), 0.f);
    }
    EXPECT_TRUE(testing::contains(log.text(), "single protein of 10 residues")) << log.text();
    EXPECT_TRUE(testing::contains(log.text(), "loading fake on the CPU")) << log.text();
}

TEST(ConcatenateBatches, PadsToTheLongestAndKeepsTheOrder) {
    FakeEncoder encoder(kDevice, 1 << 30);
    const EncodeRequest request{{1}, true, true};
    const EncodedBatch whole = encoder.encode(kProteins, request);
    const EncodedBatch joined =
        concatenate_batches({encoder.encode({kProteins[0], kProteins[1]}, request),
                             encoder.encode({kProteins[2]}, request),
                             encoder.encode({kProteins[3], kProteins[4]}, request)});
    EXPECT_TRUE(torch::equal(joined.residues_NBLD, whole.residues_NBLD));
    EXPECT_TRUE(torch::equal(joined.contacts_BLL, whole.contacts_BLL));
    EXPECT_TRUE(torch::equal(joined.bos_NBD, whole.bos_NBD));
}

}  // namespace
}  // namespace embed
