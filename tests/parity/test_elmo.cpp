// SeqVec and its ELMo against the upstream Python: AllenNLP's own test ELMo (trained, English)
// and a random-weight SeqVec with bio_embeddings-style outputs, both in tests/data.
#include "base/hdf5.h"
#include "checkpoint/hdf5_weights.h"
#include "encode/encoder.h"
#include "encode/layers.h"
#include "encode/pooling.h"
#include "input/fasta.h"
#include "models/elmo/char_cnn.h"
#include "models/elmo/characters.h"
#include "models/elmo/elmo.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::data_file;
using testing::kBatchingTolerance;
using testing::kParityTolerance;
using testing::max_abs_diff;
using testing::read_tensor;

constexpr int64_t kMaxCharacters = 50;

TEST(ElmoCharacters, WordsAreBytesBetweenMarkersShiftedByOne) {
    const std::vector<int64_t> m = elmo::word_characters("M", kMaxCharacters);
    ASSERT_EQ(m.size(), 50u);
    EXPECT_EQ(m[0], 259);      // begin of word
    EXPECT_EQ(m[1], 'M' + 1);  // the byte
    EXPECT_EQ(m[2], 260);      // end of word
    EXPECT_EQ(m[3], 261);      // padding
    const std::vector<int64_t> bos =
        elmo::boundary_characters(elmo::Boundary::begin_of_sentence, kMaxCharacters);
    EXPECT_EQ((std::vector<int64_t>(bos.begin(), bos.begin() + 4)),
              (std::vector<int64_t>{259, 257, 260, 261}));
    // Long words keep their first 48 bytes.
    const std::vector<int64_t> long_word = elmo::word_characters(std::string(60, 'a'), 50);
    EXPECT_EQ(long_word[48], 'a' + 1);
    EXPECT_EQ(long_word[49], 260);
    const torch::Tensor ids = elmo::sentence_characters({{"ab", "c"}, {"d"}}, kMaxCharacters);
    EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{2, 4, 50}));
    EXPECT_EQ(ids[1][2][1].item<int64_t>(), 258) << "end of sentence after the last word";
    EXPECT_EQ(ids[1][3].abs().sum().item<int64_t>(), 0) << "no token: all zero";
}

// AllenNLP's test ELMo and the first sentence of each of its test batches, as words.
class AllenNlpElmo : public ::testing::Test {
protected:
    void SetUp() override {
        const auto options_file = dir_ / "options.json";
        options_ =
            elmo::parse_options(json::parse_file(options_file.string()), options_file.string());
        model_ = elmo::Elmo(options_);
        model_->load_weights(read_hdf5_weights(dir_ / "lm_weights.hdf5"));
        model_->eval();

        const nlohmann::json sentences = json::parse_file((dir_ / "sentences.json").string());
        for (const nlohmann::json& list : json::as_array(sentences)) {
            sentences_.push_back(json::as_string(json::as_array(list).at(0)));
        }
        for (const std::string& sentence : sentences_) {
            std::vector<std::string_view> words;
            size_t start = 0;
            while (start < sentence.size()) {
                const size_t space = std::min(sentence.find(' ', start), sentence.size());
                if (space > start) {
                    words.emplace_back(sentence.data() + start, space - start);
                }
                start = space + 1;
            }
            words_B_.push_back(words);
        }
    }

    torch::Tensor layers() {
        torch::InferenceMode inference;
        return model_->forward(
            elmo::sentence_characters(words_B_, options_.max_characters_per_token));
    }

    const std::filesystem::path dir_ = data_file("allennlp_elmo");
    elmo::Options options_;
    elmo::Elmo model_{nullptr};
    std::vector<std::string> sentences_;
    std::vector<std::vector<std::string_view>> words_B_;
};

// The first batch, three sentences, starts from a zero state; its top layer must match what
// AllenNLP computed.
TEST_F(AllenNlpElmo, MatchesItsTopLayer) {
    const torch::Tensor layers_LBTD = layers();
    ASSERT_EQ(layers_LBTD.size(0), 3);
    const auto& batch = sentences_;
    const auto& words_B = words_B_;
    const auto& dir = dir_;

    h5::silence_library_errors();
    double worst = 0;
    for (size_t k = 0; k < batch.size(); ++k) {
        const h5::Handle expected_file =
            h5::open_file((dir / ("lm_embeddings_" + std::to_string(k) + ".hdf5")).string());
        const torch::Tensor expected_2LD = read_tensor(expected_file.id(), "0");
        const auto length = static_cast<int64_t>(words_B[k].size());
        ASSERT_EQ(expected_2LD.size(1), length);
        // [forward; backward] along features, without the sentence boundaries.
        const torch::Tensor expected_LD = torch::cat({expected_2LD[0], expected_2LD[1]}, -1);
        const torch::Tensor top_LD = layers_LBTD[2][static_cast<int64_t>(k)].narrow(0, 1, length);
        worst = std::max(worst, max_abs_diff(top_LD, expected_LD));
    }
    EXPECT_LT(worst, kBatchingTolerance);
    std::cout << "[ parity   ] allennlp_elmo first batch, top layer: max abs error " << worst
              << "\n";
}

// The LSTM computes the input's share of its gates a few steps at a time; where those steps
// end must not matter.
TEST_F(AllenNlpElmo, TheStepsOfTheInputGatesDoNotMatter) {
    const torch::Tensor whole = layers();
    const int64_t step_bytes = 2 * 4 * options_.cell_dim * static_cast<int64_t>(sizeof(float));
    const int64_t sentences = whole.size(1);
    for (const int64_t steps : {int64_t{1}, int64_t{3}}) {
        // The budget divides among the sentences still running.
        model_->lstm->input_gate_bytes = steps * sentences * step_bytes;
        EXPECT_LT(max_abs_diff(layers(), whole), kBatchingTolerance) << steps << " steps at once";
    }
}

// On the CPU in float32 the LSTM's steps multiply by packed weights (models/packed_weights.h)
// and must compute what LibTorch's products did (tests/test_packed_weights.cpp covers the
// shapes: more rows than a tile, columns not a multiple of a panel).
TEST_F(AllenNlpElmo, PackedWeightsComputeTheSameLayers) {
    const torch::Tensor unpacked = layers();
    model_->lstm->pack_weights();
    EXPECT_EQ(model_->lstm->layers->at<elmo::BiLstmLayerImpl>(0).state_weight.numel(), 0)
        << "the plain copies are freed";
    EXPECT_LT(max_abs_diff(layers(), unpacked), kBatchingTolerance);
}

class SeqVec : public ::testing::Test {
protected:
    void SetUp() override {
        h5::silence_library_errors();
        encoder_ = load_encoder(data_file("seqvec_tiny"), LoadOptions{});
        records_ = read_fasta(data_file("seqvec_tiny/input.fasta"));
    }
    std::unique_ptr<Encoder> encoder_;
    std::vector<FastaRecord> records_;
};

TEST_F(SeqVec, EveryLayerTheSumAndThePerProteinVectorMatchUpstream) {
    const ModelInfo& info = encoder_->info();
    EXPECT_EQ(info.family, "SeqVec");
    EXPECT_EQ(info.num_layers, 2);
    EXPECT_EQ(info.embed_dim, 16);
    EXPECT_EQ(info.default_layers, "sum");
    EXPECT_FALSE(info.max_residues.has_value());
    EXPECT_FALSE(info.default_max_residues.has_value());

    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    const LayerSelection all = resolve_layers("all", info.num_layers);
    const LayerSelection sum = resolve_layers("", info.num_layers, info.default_layers);
    double worst = 0;
    for (const FastaRecord& record : records_) {
        const std::string group = "seqvec_tiny/" + record.id + "/";
        const auto length = static_cast<int64_t>(record.residues.size());
        EncodeRequest request;
        request.layers = all.layers;
        const EncodedBatch layers = encoder_->encode({record.residues}, request);
        worst = std::max(worst, max_abs_diff(layers.residues_NBLD.select(1, 0),
                                             read_tensor(reference.id(), group + "layers")));
        const EncodedBatch summed = combine_layers(layers, sum);
        worst =
            std::max(worst, max_abs_diff(summed.residues_NBLD[0][0],
                                         read_tensor(reference.id(), group + "per_residue_sum")));
        worst = std::max(worst, max_abs_diff(pool(summed, 0, length, Pooling::mean)[0],
                                             read_tensor(reference.id(), group + "per_protein")));
    }
    EXPECT_LT(worst, kParityTolerance);
    std::cout << "[ parity   ] seqvec_tiny: max abs error " << worst << "\n";
}

TEST_F(SeqVec, BatchedEqualsOneByOne) {
    std::vector<std::string_view> all;
    for (const FastaRecord& r : records_) {
        all.push_back(r.residues);
    }
    EncodeRequest request;
    request.layers = {0, 1, 2};
    const EncodedBatch batched = encoder_->encode(all, request);
    for (size_t b = 0; b < all.size(); ++b) {
        const EncodedBatch alone = encoder_->encode({all[b]}, request);
        EXPECT_LT(max_abs_diff(batched.residues_NBLD.select(1, static_cast<int64_t>(b))
                                   .narrow(1, 0, static_cast<int64_t>(all[b].size())),
                               alone.residues_NBLD.select(1, 0)),
                  kBatchingTolerance)
            << records_[b].id;
    }
}

TEST_F(SeqVec, BFloat16StaysCloseToFloat32) {
    LoadOptions bf16;
    bf16.dtype = torch::kBFloat16;
    const auto rounded = load_encoder(data_file("seqvec_tiny"), bf16);
    EncodeRequest request;
    request.layers = resolve_layers("all", encoder_->info().num_layers).layers;
    double worst_residue = 1, worst_protein = 1;
    for (const FastaRecord& record : records_) {
        const EncodedBatch a = encoder_->encode({record.residues}, request);
        const EncodedBatch b = rounded->encode({record.residues}, request);
        worst_residue =
            std::min(worst_residue, testing::min_cosine(a.residues_NBLD, b.residues_NBLD));
        worst_protein = std::min(
            worst_protein, testing::min_cosine(a.residues_NBLD.mean(2), b.residues_NBLD.mean(2)));
    }
    EXPECT_GT(worst_residue, 0.999);
    EXPECT_GT(worst_protein, 0.9999);
    std::cout << "[ bfloat16 ] seqvec_tiny: cosine to float32 per residue >= " << worst_residue
              << ", per protein >= " << worst_protein << "\n";
}

TEST_F(SeqVec, AnyLetterIsAResidueButNothingElse) {
    const ModelFamily& family = find_model_family(data_file("seqvec_tiny"));
    EXPECT_EQ(family.name, "SeqVec");
    EXPECT_EQ(family.alphabet.find_invalid("MKJBZOU"), std::string::npos);
    EXPECT_EQ(family.alphabet.find_invalid("MK-"), 2u);
    EXPECT_EQ(family.alphabet.find_invalid("MK1"), 2u);
    // Never-seen letters still embed.
    EncodeRequest request;
    request.layers = {2};
    EXPECT_TRUE(encoder_->encode({"JJJ"}, request).residues_NBLD.isfinite().all().item<bool>());
}

TEST_F(SeqVec, TheWeightsFileOrTheOptionsFileStandForTheDirectory) {
    for (const char* file : {"seqvec_tiny/weights.hdf5", "seqvec_tiny/options.json"}) {
        EXPECT_EQ(find_model_family(data_file(file)).name, "SeqVec") << file;
    }
}

TEST(ElmoWeights, MissingAndMisshapenDatasetsAreNamed) {
    const auto dir = data_file("seqvec_tiny");
    elmo::Options options =
        elmo::parse_options(json::parse_file((dir / "options.json").string()), "options.json");
    options.cell_dim *= 2;  // options that do not fit the weights
    elmo::Elmo model(options);
    try {
        model->load_weights(read_hdf5_weights(dir / "weights.hdf5"));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(
            testing::contains(e.what(),
                              "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/B: checkpoint has [64], model "
                              "expects [128]"))
            << e.what();
    }
}

TEST(ElmoOptions, ImplausibleOptionsAreRejected) {
    const char* bad[] = {
        R"({"char_cnn": {}, "lstm": {}})",
        R"({"char_cnn": {"filters": [[1, 4]], "n_highway": 1, "embedding": {"dim": 4},
            "max_characters_per_token": 50, "activation": "gelu"},
            "lstm": {"n_layers": 2, "dim": 8, "projection_dim": 4}})",
        R"({"char_cnn": {"filters": [[60, 4]], "n_highway": 1, "embedding": {"dim": 4},
            "max_characters_per_token": 50, "activation": "relu"},
            "lstm": {"n_layers": 2, "dim": 8, "projection_dim": 4}})",
        R"({"char_cnn": {"filters": [[1, 4]], "n_highway": 1, "embedding": {"dim": 4},
            "max_characters_per_token": 50, "activation": "relu"},
            "lstm": {"n_layers": 2, "dim": 100000000000, "projection_dim": 4}})",
    };
    for (const char* text : bad) {
        EXPECT_THROW(elmo::parse_options(json::parse(text), "options.json"), std::runtime_error)
            << text;
    }
}

// The tanh activation (bilm-tf's other choice) applies after the max over positions, like relu.
TEST(ElmoCharacterEncoder, TanhAppliesAfterTheMaxOverPositions) {
    elmo::Options options;
    options.filters = {{2, 3}};
    options.character_embedding_dim = 4;
    options.max_characters_per_token = 5;
    options.projection_dim = 3;
    options.activation = elmo::Options::Activation::tanh;
    torch::manual_seed(7);
    elmo::CharacterEncoder encoder(options);
    c10::InferenceMode inference;
    // Every weight random: the model's linear layers start uninitialised (models/linear.h).
    for (torch::Tensor& p : encoder->parameters()) {
        p.normal_();
    }
    encoder->char_embed.normal_();
    encoder->char_embed[0].zero_();
    auto& convolution = *encoder->convolutions[0]->as<torch::nn::Conv1d>();
    const torch::Tensor ids_NC = torch::tensor({{259, 66, 67, 260, 0}, {259, 68, 260, 0, 0}});

    const torch::Tensor embedded_NDC =
        torch::embedding(encoder->char_embed, ids_NC).transpose(1, 2);
    const torch::Tensor convolved_NFC =
        torch::conv1d(embedded_NDC, convolution.weight, convolution.bias);
    const torch::Tensor expected =
        encoder->projection(torch::tanh(std::get<0>(convolved_NFC.max(-1))));
    EXPECT_LT(max_abs_diff(encoder->forward(ids_NC), expected), 1e-6);
}

}  // namespace
}  // namespace embed
