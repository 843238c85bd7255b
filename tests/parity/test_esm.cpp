// ESM-2 and ESM-1b against the upstream Python (fair-esm and Hugging Face transformers): the
// fixtures in tests/data hold random-weight models in both formats and their outputs.
#include <random>

#include "base/hdf5.h"
#include "checkpoint/safetensors.h"
#include "encode/encoder.h"
#include "encode/pooling.h"
#include "encode/runtime.h"
#include "input/fasta.h"
#include "kernels/cpu_attention.h"
#include "models/esm/alphabet.h"
#include "models/esm/checkpoint.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::data_file;
using testing::kBatchingTolerance;
using testing::kParityTolerance;
using testing::max_abs_diff;
using testing::read_tensor;

struct Fixture {
    std::string model;       // group in expected.h5
    std::string checkpoint;  // under tests/data/

    std::filesystem::path path() const { return data_file(checkpoint); }
};

std::ostream& operator<<(std::ostream& out, const Fixture& f) {
    return out << f.checkpoint;
}

class EsmParity : public ::testing::TestWithParam<Fixture> {};

const LoadOptions kWithContacts{torch::kCPU, torch::kFloat32, /*contacts=*/true};

EncodeRequest everything(int64_t num_layers) {
    EncodeRequest request;
    for (int64_t l = 0; l <= num_layers; ++l) {
        request.layers.push_back(l);
    }
    request.bos = true;
    request.contacts = true;
    return request;
}

TEST_P(EsmParity, EveryLayerMeanBosAndContactsMatchUpstream) {
    const Fixture& fixture = GetParam();
    const auto encoder = load_encoder(fixture.path(), kWithContacts);
    const ModelInfo& info = encoder->info();
    EXPECT_EQ(info.num_layers, 2);
    EXPECT_EQ(info.embed_dim, 32);
    EXPECT_TRUE(info.has_contact_head);

    h5::silence_library_errors();
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    const EncodeRequest request = everything(info.num_layers);
    // Without contacts the CPU runs its own attention kernel (cpu_attention.cpp).
    EncodeRequest embeddings_only = request;
    embeddings_only.contacts = false;
    double worst = 0;
    double worst_contacts = 0;
    for (const FastaRecord& record : read_fasta(data_file(fixture.model + "/input.fasta"))) {
        const EncodedBatch out = encoder->encode({record.residues}, request);
        const EncodedBatch fast = encoder->encode({record.residues}, embeddings_only);
        const auto length = static_cast<int64_t>(record.residues.size());
        const std::string group = fixture.model + "/" + record.id + "/";
        for (const int64_t layer : request.layers) {
            const std::string k = std::to_string(layer);
            const torch::Tensor expected_LD = read_tensor(reference.id(), group + "layer_" + k);
            worst = std::max(worst, max_abs_diff(out.residues_NBLD[layer][0], expected_LD));
            worst = std::max(worst, max_abs_diff(fast.residues_NBLD[layer][0], expected_LD));
            worst = std::max(worst, max_abs_diff(pool(out, 0, length, Pooling::mean)[layer],
                                                 read_tensor(reference.id(), group + "mean_" + k)));
        }
        worst = std::max(worst, max_abs_diff(pool(out, 0, length, Pooling::bos)[info.num_layers],
                                             read_tensor(reference.id(), group + "bos_last")));
        worst_contacts = std::max(
            worst_contacts,
            max_abs_diff(out.contacts_BLL[0], read_tensor(reference.id(), group + "contacts")));
    }
    EXPECT_LT(worst, kParityTolerance);
    EXPECT_LT(worst_contacts, kParityTolerance);
    std::cout << "[ parity   ] " << fixture.checkpoint << ": max abs error " << worst
              << ", contacts " << worst_contacts << "\n";
}

TEST_P(EsmParity, BatchedEqualsOneByOne) {
    const auto encoder = load_encoder(GetParam().path(), kWithContacts);
    const auto records = read_fasta(data_file(GetParam().model + "/input.fasta"));
    std::vector<std::string_view> all;
    for (const FastaRecord& r : records) {
        all.push_back(r.residues);
    }
    // Without contacts each protein's attention runs over its own tokens (transformer.cpp),
    // with them over the padded batch: both must equal the protein alone.
    EncodeRequest embeddings_only = everything(encoder->info().num_layers);
    embeddings_only.contacts = false;
    const EncodedBatch without_contacts = encoder->encode(all, embeddings_only);
    const EncodeRequest request = everything(encoder->info().num_layers);
    const EncodedBatch batched = encoder->encode(all, request);
    for (size_t b = 0; b < records.size(); ++b) {
        const EncodedBatch alone = encoder->encode({all[b]}, request);
        const auto length = static_cast<int64_t>(all[b].size());
        const auto row = static_cast<int64_t>(b);
        EXPECT_LT(max_abs_diff(batched.residues_NBLD.select(1, row).narrow(1, 0, length),
                               alone.residues_NBLD.select(1, 0)),
                  kBatchingTolerance)
            << records[b].id;
        EXPECT_LT(max_abs_diff(without_contacts.residues_NBLD.select(1, row).narrow(1, 0, length),
                               alone.residues_NBLD.select(1, 0)),
                  kBatchingTolerance)
            << records[b].id << " (without contacts)";
        EXPECT_LT(max_abs_diff(batched.bos_NBD.select(1, row), alone.bos_NBD.select(1, 0)),
                  kBatchingTolerance);
        EXPECT_LT(max_abs_diff(batched.contacts_BLL[row].narrow(0, 0, length).narrow(1, 0, length),
                               alone.contacts_BLL[0]),
                  kBatchingTolerance);
    }
}

// The CPU's attention kernel against the padded batch's attention (ESM's own formula, which the
// parity test above checks against upstream): proteins long enough for several blocks of
// queries, a padded batch, one thread and two.
TEST_P(EsmParity, CpuAttentionKernelMatchesOnLongProteinsAndAnyThreads) {
    const auto encoder = load_encoder(GetParam().path(), kWithContacts);
    const int64_t longest = std::min<int64_t>(encoder->info().max_residues.value_or(1500), 1500);
    std::mt19937 random(7);
    std::vector<std::string> proteins;
    for (const int64_t length : {longest, longest / 3, int64_t{5}}) {
        std::string residues;
        for (int64_t i = 0; i < length; ++i) {
            residues += "ACDEFGHIKLMNPQRSTVWY"[random() % 20];
        }
        proteins.push_back(residues);
    }
    const std::vector<std::string_view> batch(proteins.begin(), proteins.end());
    EncodeRequest embeddings_only = everything(encoder->info().num_layers);
    embeddings_only.contacts = false;
    const EncodedBatch reference = encoder->encode(batch, everything(encoder->info().num_layers));
    const int threads = at::get_num_threads();
    for (const int n : {1, 2}) {
        set_cpu_threads(n);
        const EncodedBatch fast = encoder->encode(batch, embeddings_only);
        for (size_t b = 0; b < proteins.size(); ++b) {
            const auto length = static_cast<int64_t>(proteins[b].size());
            const auto row = static_cast<int64_t>(b);
            EXPECT_LT(max_abs_diff(fast.residues_NBLD.select(1, row).narrow(1, 0, length),
                                   reference.residues_NBLD.select(1, row).narrow(1, 0, length)),
                      kBatchingTolerance)
                << length << " residues, " << n << " threads";
        }
    }
    set_cpu_threads(threads);
}

// Both paths: with contacts the padded batch (LibTorch's attention), without them on the CPU the
// packed one (cpu_attention.h: probabilities times values in bfloat16).
TEST_P(EsmParity, BFloat16StaysCloseToFloat32) {
    const auto exact = load_encoder(GetParam().path(), kWithContacts);
    LoadOptions bf16 = kWithContacts;
    bf16.dtype = torch::kBFloat16;
    const auto rounded = load_encoder(GetParam().path(), bf16);
    const auto records = read_fasta(data_file(GetParam().model + "/input.fasta"));
    for (const bool contacts : {true, false}) {
        EncodeRequest request = everything(exact->info().num_layers);
        request.contacts = contacts;
        double worst_residue = 1, worst_protein = 1, worst_contact = 0;
        for (const FastaRecord& r : records) {
            const EncodedBatch a = exact->encode({r.residues}, request);
            const EncodedBatch b = rounded->encode({r.residues}, request);
            EXPECT_EQ(b.residues_NBLD.scalar_type(), torch::kFloat32);
            worst_residue =
                std::min(worst_residue, testing::min_cosine(a.residues_NBLD, b.residues_NBLD));
            worst_protein = std::min(worst_protein, testing::min_cosine(a.residues_NBLD.mean(2),
                                                                        b.residues_NBLD.mean(2)));
            if (contacts) {
                worst_contact =
                    std::max(worst_contact, max_abs_diff(a.contacts_BLL, b.contacts_BLL));
            }
        }
        EXPECT_GT(worst_residue, 0.999) << "contacts " << contacts;
        EXPECT_GT(worst_protein, 0.9999) << "contacts " << contacts;
        EXPECT_LT(worst_contact, 0.01);
        std::cout << "[ bfloat16 ] " << GetParam().checkpoint
                  << (contacts ? " (padded, contacts)" : " (packed)")
                  << ": cosine to float32 per residue >= " << worst_residue
                  << ", per protein >= " << worst_protein;
        if (contacts) {
            std::cout << "; contacts max abs difference " << worst_contact;
        }
        std::cout << "\n";
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EsmParity,
                         ::testing::Values(Fixture{"esm2_tiny", "esm2_tiny/esm2_tiny.pt"},
                                           Fixture{"esm2_tiny", "esm2_tiny/hf"},
                                           Fixture{"esm2_tiny", "esm2_tiny_pytorch_bin"},
                                           Fixture{"esm1b_tiny", "esm1b_tiny/esm1b_tiny.pt"},
                                           Fixture{"esm1b_tiny", "esm1b_tiny/hf"}));

// The kernel takes a packed batch: its token counts must account for every row, the rotation
// must reach the longest protein, and the values' format must be one it multiplies in.
TEST(EsmCpuAttention, RefusesTokenCountsOrRotationsThatDoNotFitTheRows) {
    const torch::Tensor qkv_NE = torch::zeros({5, 3 * 2 * 4});
    const torch::Tensor rotation_Td = torch::zeros({4, 4});
    EXPECT_NO_THROW(esm::attend_on_cpu(qkv_NE, 2, 1.0f, rotation_Td, rotation_Td, {3, 2}));
    EXPECT_THROW(esm::attend_on_cpu(qkv_NE, 2, 1.0f, rotation_Td, rotation_Td, {3}), c10::Error);
    EXPECT_THROW(esm::attend_on_cpu(qkv_NE, 2, 1.0f, rotation_Td, rotation_Td, {3, 3}), c10::Error);
    EXPECT_THROW(esm::attend_on_cpu(qkv_NE, 2, 1.0f, rotation_Td, rotation_Td, {5}), c10::Error);
    // Values in float32 or bfloat16 only.
    EXPECT_THROW(
        esm::attend_on_cpu(qkv_NE, 2, 1.0f, rotation_Td, rotation_Td, {3, 2}, torch::kFloat16),
        c10::Error);
}

// Rows of every remainder modulo 8 and 16, with scores spanning float's range down to where e^x
// underflows.
std::vector<float> random_scores(int64_t rows, int64_t columns) {
    std::mt19937 random(static_cast<unsigned>(3 + columns));
    std::uniform_real_distribution<float> score(-95.0f, 20.0f);
    std::vector<float> scores(static_cast<size_t>(rows * columns));
    for (float& s : scores) {
        s = score(random);
    }
    return scores;
}
constexpr int64_t kColumnCounts[] = {1, 7, 8, 9, 15, 16, 17, 31, 1000};

// Softmax's exponentials against std::exp: every kernel this CPU runs (AVX-512, AVX2, plain C++).
TEST(EsmCpuAttention, ExponentialsAreWithinFourUlpOfStdExp) {
    const auto kernels = esm::detail::row_exponentials_to_float();
    std::cout << "[ kernels  ] " << kernels.size() << " exponential kernels run on this CPU\n";
    for (const int64_t columns : kColumnCounts) {
        const int64_t rows = 3;
        const std::vector<float> scores = random_scores(rows, columns);
        for (size_t k = 0; k < kernels.size(); ++k) {
            std::vector<float> out = scores;  // in place, as the attention calls them
            std::vector<float> sums(static_cast<size_t>(rows));
            kernels[k](out.data(), rows, columns, out.data(), sums.data());
            for (int64_t r = 0; r < rows; ++r) {
                const auto row = scores.begin() + r * columns;
                const float largest = *std::max_element(row, row + columns);
                double sum = 0;
                for (int64_t c = 0; c < columns; ++c) {
                    const auto i = static_cast<size_t>(r * columns + c);
                    const float x = scores[i] - largest;
                    sum += out[i];
                    if (x >= -87.0f) {
                        EXPECT_NEAR(out[i], std::exp(x), 4 * std::exp(x) * 1.2e-7f)
                            << "e^" << x << ", " << columns << " columns, kernel " << k;
                    } else {  // below float's normal range: e^-87 at most
                        EXPECT_LE(out[i], 1.7e-38f) << "e^" << x << ", kernel " << k;
                    }
                }
                EXPECT_NEAR(sums[static_cast<size_t>(r)], sum, sum * 1e-6) << "kernel " << k;
            }
        }
    }
}

// To bfloat16: each exponential is exactly the float one of the same instruction set rounded to
// nearest even (c10::BFloat16), and the sums are the float ones.
TEST(EsmCpuAttention, BFloat16ExponentialsAreTheFloatOnesRoundedToNearest) {
    const auto to_float = esm::detail::row_exponentials_to_float();
    const auto to_bfloat16 = esm::detail::row_exponentials_to_bfloat16();
    // Plain C++ with plain C++, and AVX-512 with AVX-512 where the CPU runs it.
    std::vector<
        std::pair<esm::detail::RowExponentials<float>, esm::detail::RowExponentials<c10::BFloat16>>>
        pairs = {{to_float.back(), to_bfloat16.back()}};
    if (to_bfloat16.size() > 1) {
        pairs.emplace_back(to_float.front(), to_bfloat16.front());
    }
    for (const int64_t columns : kColumnCounts) {
        const int64_t rows = 3;
        const std::vector<float> scores = random_scores(rows, columns);
        for (size_t k = 0; k < pairs.size(); ++k) {
            std::vector<float> exact(scores.size());
            std::vector<float> exact_sums(static_cast<size_t>(rows));
            pairs[k].first(scores.data(), rows, columns, exact.data(), exact_sums.data());
            std::vector<c10::BFloat16> out(scores.size());
            std::vector<float> sums(static_cast<size_t>(rows));
            pairs[k].second(scores.data(), rows, columns, out.data(), sums.data());
            for (size_t i = 0; i < out.size(); ++i) {
                ASSERT_EQ(out[i].x, c10::BFloat16(exact[i]).x)
                    << exact[i] << ", " << i << " of " << columns << " columns, pair " << k;
            }
            EXPECT_EQ(sums, exact_sums) << "pair " << k;
        }
    }
}

// --dtype bfloat16's attention (probabilities times values in bfloat16) against float32's, on a
// packed batch of proteins long enough for several blocks of queries.
TEST(EsmCpuAttention, BFloat16ValuesStayCloseToFloat32) {
    torch::manual_seed(5);
    const int64_t heads = 4, head_dim = 16;
    const std::vector<int64_t> tokens_B = {1500, 300, 7};
    const int64_t rows = 1807;
    const torch::Tensor qkv_NE = torch::randn({rows, 3 * heads * head_dim}) * 2;
    const torch::Tensor angles_Td = torch::rand({1500, head_dim}) * 6;
    const torch::Tensor exact =
        esm::attend_on_cpu(qkv_NE, heads, 0.25f, angles_Td.cos(), angles_Td.sin(), tokens_B);
    const torch::Tensor rounded = esm::attend_on_cpu(qkv_NE, heads, 0.25f, angles_Td.cos(),
                                                     angles_Td.sin(), tokens_B, torch::kBFloat16);
    ASSERT_EQ(rounded.scalar_type(), torch::kBFloat16);
    const torch::Tensor cosine =
        torch::cosine_similarity(exact, rounded.to(torch::kFloat32), /*dim=*/1);
    EXPECT_GT(cosine.min().item<double>(), 0.9999);
    // Values rounded to 8 bits, then the results: a few bfloat16 ulps of the largest.
    EXPECT_LT(max_abs_diff(exact, rounded.to(torch::kFloat32)),
              exact.abs().max().item<double>() / 128);
}

TEST(EsmCheckpoint, HuggingFaceNamesMapToFairEsm) {
    EXPECT_EQ(esm::fair_esm_name("esm.embeddings.word_embeddings.weight"), "embed_tokens.weight");
    EXPECT_EQ(esm::fair_esm_name("esm.encoder.layer.11.attention.self.query.bias"),
              "layers.11.self_attn.q_proj.bias");
    EXPECT_EQ(esm::fair_esm_name("encoder.layer.0.attention.self.rotary_embeddings.inv_freq"),
              "layers.0.self_attn.rot_emb.inv_freq");
    EXPECT_EQ(esm::fair_esm_name("esm.encoder.layer.3.LayerNorm.weight"),
              "layers.3.final_layer_norm.weight");
    EXPECT_EQ(esm::fair_esm_name("esm.encoder.layer.3.attention.LayerNorm.weight"),
              "layers.3.self_attn_layer_norm.weight");
    EXPECT_EQ(esm::fair_esm_name("esm.encoder.layer.3.output.dense.weight"), "layers.3.fc2.weight");
    EXPECT_EQ(esm::fair_esm_name("esm.embeddings.layer_norm.bias"), "emb_layer_norm_before.bias");
    EXPECT_EQ(esm::fair_esm_name("lm_head.dense.weight"), std::nullopt);
    EXPECT_EQ(esm::fair_esm_name("esm.contact_head.regression.weight"),
              "contact_head.regression.weight");
    EXPECT_EQ(esm::fair_esm_name("something.else"), "something.else");
}

TEST(EsmCheckpoint, ReadsTheConfigurationFromTheFile) {
    for (const char* path : {"esm2_tiny/esm2_tiny.pt", "esm2_tiny/hf", "esm1b_tiny/esm1b_tiny.pt",
                             "esm1b_tiny/hf", "esm2_tiny/hf/model.safetensors"}) {
        const esm::Checkpoint c = esm::read_checkpoint(data_file(path));
        EXPECT_EQ(c.config.num_layers, 2) << path;
        EXPECT_EQ(c.config.embed_dim, 32) << path;
        EXPECT_EQ(c.config.attention_heads, 4) << path;
        EXPECT_EQ(c.config.ffn_dim, 128) << path;
        EXPECT_TRUE(c.config.token_dropout) << path;
        const bool esm1b = std::string(path).rfind("esm1b", 0) == 0;
        EXPECT_EQ(c.config.version, esm1b ? esm::Version::esm1b : esm::Version::esm2) << path;
        if (esm1b) {
            EXPECT_EQ(c.config.max_positions, 1024) << path;
        }
        EXPECT_FALSE(c.tensors.contains("lm_head.weight")) << path;
    }
}

// Damaged numbers overflowed before validation (undefined behaviour, which UBSan reports in the
// configuration readers' fuzz targets); they are implausible configurations now.
TEST(EsmConfig, DamagedNumbersAreErrorsNotOverflows) {
    const auto hf_error = [](const std::string& members) {
        const nlohmann::json config = json::parse(
            R"({"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 128, "position_embedding_type": "absolute",
                "emb_layer_norm_before": true, )" +
            members + "}");
        return testing::error_of([&] { esm::config_from_hugging_face(config, "dir"); });
    };
    EXPECT_TRUE(testing::contains(hf_error(R"("max_position_embeddings": -9223372036854775808)"),
                                  "dir/config.json: implausible ESM-1b max_positions"));
    EXPECT_TRUE(testing::contains(hf_error(R"("max_position_embeddings": 2)"),
                                  "dir/config.json: implausible ESM-1b max_positions 0"));
    EXPECT_TRUE(testing::contains(
        hf_error(R"("max_position_embeddings": 1026, "hidden_size": 1099511627776)"),
        "dir/config.json: implausible ESM configuration"));

    // cfg["model"] of a fair-esm ESM-2 checkpoint without encoder_ffn_embed_dim, whose default
    // (4 x the width) overflowed for a width of 2^62.
    const auto text = [](const std::string& s) {
        const char length[4] = {static_cast<char>(s.size()), 0, 0, 0};
        return "X" + std::string(length, 4) + s;
    };
    const std::string stream = "\x80\x02}" + text("cfg") + "}" + text("model") + "}(" +
                               text("encoder_layers") + "K\x02" + text("encoder_embed_dim") +
                               std::string("\x8a\x08\0\0\0\0\0\0\0\x40", 10) +
                               text("encoder_attention_heads") + "K\x04" + "uss.";
    pickle::Document document;
    pickle::unpickle(stream, pickle::Hooks{}, "model.pt", document);
    EXPECT_TRUE(testing::contains(
        testing::error_of([&] { esm::config_from_fair_esm(document.root, "model.pt"); }),
        "model.pt: implausible ESM configuration: 2 layers, width 4611686018427387904"));
}

// A model is as large as its configuration says: a damaged number used to be allocated (a width
// of 2^20 asks LibTorch for terabytes) before strict loading could say the file is wrong.
TEST(EsmCheckpoint, ConfigurationsThatDisagreeWithTheTensorsAreErrorsBeforeBuilding) {
    const auto directory = testing::data_file("esm2_tiny_pytorch_bin");
    const esm::Checkpoint good = esm::read_checkpoint(directory);
    const auto error_with = [&](const std::function<void(esm::Config&)>& damage) {
        esm::Checkpoint damaged = esm::read_checkpoint(directory);
        damage(damaged.config);
        return testing::error_of([&] { esm::build_model(damaged); });
    };
    const std::string width = error_with([](esm::Config& c) { c.embed_dim = 1 << 20; });
    EXPECT_TRUE(testing::contains(width, good.tensors.source() + ": the configuration")) << width;
    EXPECT_TRUE(testing::contains(width, "embed_tokens.weight [33, 1048576] is [33, 32]")) << width;
    const std::string layers = error_with([](esm::Config& c) { c.num_layers = 3300; });
    EXPECT_TRUE(testing::contains(layers, "layers.2.fc1.weight [128, 32] is missing")) << layers;
    EXPECT_NO_THROW(esm::build_model(good));
}

TEST(EsmCheckpoint, Esm1bMaskRowIsZeroedAtLoad) {
    esm::Checkpoint checkpoint = esm::read_checkpoint(data_file("esm1b_tiny/esm1b_tiny.pt"));
    // As released, the row holds trained values; fair-esm zeroes it when loading.
    const auto shape = checkpoint.tensors.at("embed_tokens.weight").shape();
    checkpoint.tensors = checkpoint.tensors.renamed([](const std::string& name) {
        return name == "embed_tokens.weight" ? std::nullopt : std::optional<std::string>(name);
    });
    checkpoint.tensors.add(
        "embed_tokens.weight",
        StoredTensor(shape, torch::kFloat32,
                     [](const torch::Tensor& destination) { destination.fill_(1); }));
    const esm::EsmModel model = esm::build_model(checkpoint);
    EXPECT_EQ(model->embed_tokens->weight[esm::kMaskToken].abs().sum().item<float>(), 0.f);
    EXPECT_EQ(model->embed_tokens->weight[esm::kClsToken].sum().item<float>(), 32.f);
}

TEST(EsmCheckpoint, ModelInfo) {
    const auto esm2 = load_encoder(data_file("esm2_tiny/esm2_tiny.pt"), LoadOptions{});
    EXPECT_EQ(esm2->info().name, "esm2_tiny");
    EXPECT_EQ(esm2->info().family, "ESM-2");
    EXPECT_FALSE(esm2->info().max_residues.has_value());
    EXPECT_EQ(esm2->info().extra_tokens_per_sequence, 2);
    const auto esm1b = load_encoder(data_file("esm1b_tiny/hf"), LoadOptions{});
    EXPECT_EQ(esm1b->info().family, "ESM-1b");
    EXPECT_EQ(esm1b->info().max_residues, 1022);
    EXPECT_EQ(esm1b->info().weight_files.front().filename(), "model.safetensors");
}

TEST(EsmCheckpoint, ContactRegressionIsReadOnlyWhenContactsAreAsked) {
    testing::TempDir dir;
    std::filesystem::copy_file(data_file("esm2_tiny/esm2_tiny.pt"), dir / "esm2_tiny.pt");
    testing::write_file(dir / "esm2_tiny-contact-regression.pt", "not a torch file");
    const auto plain = load_encoder(dir / "esm2_tiny.pt", LoadOptions{});
    EXPECT_FALSE(plain->info().has_contact_head);
    try {
        load_encoder(dir / "esm2_tiny.pt", kWithContacts);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(testing::contains(e.what(), "esm2_tiny-contact-regression.pt")) << e.what();
    }
}

TEST(EsmAlphabet, AcceptsTheModelsResiduesOnly) {
    EXPECT_EQ(esm::find_invalid_residue("ACDEFGHIKLMNPQRSTVWYXBUZO.-"), std::string::npos);
    EXPECT_EQ(esm::find_invalid_residue("MKJL"), 2u);
    EXPECT_EQ(esm::find_invalid_residue("MK*"), 2u);
    EXPECT_EQ(esm::find_invalid_residue("mk"), 0u);  // the reader upper-cases
}

TEST(EsmAlphabet, TokensAreFairEsmsWithBosEosAndPadding) {
    const torch::Tensor tokens = esm::tokenize({"MK", "L"});
    EXPECT_TRUE(torch::equal(tokens, torch::tensor({{0, 20, 15, 2}, {0, 4, 2, 1}})));
}

TEST(EsmAlphabet, IsTheFamilysAlphabet) {
    const ModelFamily& family = find_model_family(data_file("esm2_tiny/esm2_tiny.pt"));
    EXPECT_EQ(family.name, "ESM");
    EXPECT_EQ(family.alphabet.find_invalid("MKTJ"), 3u);
}

// The Hugging Face hub cache layout, with the weights split into shards and an index.
std::filesystem::path sharded_snapshot(const testing::TempDir& dir, bool drop_inv_freq) {
    const auto snapshot = dir / "models--facebook--esm2_t6_8M_UR50D/snapshots/0123abcd";
    std::filesystem::create_directories(snapshot);
    std::filesystem::copy_file(data_file("esm2_tiny/hf/config.json"), snapshot / "config.json");
    const StateDict full = read_safetensors(data_file("esm2_tiny/hf/model.safetensors"));
    std::vector<std::pair<std::string, torch::Tensor>> shards[2];
    std::string weight_map;
    size_t i = 0;
    for (const auto& [name, tensor] : full.tensors()) {
        if (drop_inv_freq && name.find("inv_freq") != std::string::npos) {
            continue;
        }
        const size_t shard = i++ % 2;
        shards[shard].emplace_back(name, tensor.read());
        weight_map += (weight_map.empty() ? "" : ", ") + std::string("\"") + name +
                      "\": \"model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors\"";
    }
    for (size_t shard = 0; shard < 2; ++shard) {
        testing::write_safetensors(
            snapshot / ("model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors"),
            shards[shard]);
    }
    testing::write_file(snapshot / "model.safetensors.index.json",
                        "{\"metadata\": {}, \"weight_map\": {" + weight_map + "}}");
    return snapshot;
}

TEST(HuggingFace, HubCacheLayoutAndShardedWeights) {
    testing::TempDir dir;
    const auto sharded = load_encoder(sharded_snapshot(dir, false), kWithContacts);
    EXPECT_EQ(sharded->info().name, "esm2_t6_8M_UR50D");
    EXPECT_EQ(sharded->info().weight_files.size(), 2u);
    const auto whole = load_encoder(data_file("esm2_tiny/hf"), kWithContacts);
    const EncodeRequest request = everything(2);
    EXPECT_EQ(max_abs_diff(sharded->encode({"MKTAYIAKQR"}, request).residues_NBLD,
                           whole->encode({"MKTAYIAKQR"}, request).residues_NBLD),
              0.0);
}

TEST(HuggingFace, MissingRotaryFrequenciesAreNamed) {
    testing::TempDir dir;
    try {
        load_encoder(sharded_snapshot(dir, true), LoadOptions{});
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(testing::contains(
            e.what(), "missing tensors:\n  layers.0.self_attn.rot_emb.inv_freq [4]"))
            << e.what();
    }
}

TEST(LoadEncoder, UnknownPathsAndFilesAreClearErrors) {
    EXPECT_THROW(load_encoder("/nonexistent/model.pt", LoadOptions{}), std::invalid_argument);
    testing::TempDir dir;
    std::filesystem::create_directory(dir / "bert");
    testing::write_file(dir / "bert/config.json", R"({"model_type": "bert"})");
    EXPECT_THROW(load_encoder(dir / "bert", LoadOptions{}), std::invalid_argument);
    std::filesystem::create_directory(dir / "empty_model");
    try {
        load_encoder(dir / "empty_model", LoadOptions{});
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("not a checkpoint of any supported model"),
                  std::string::npos);
        EXPECT_NE(std::string(e.what()).find("fair-esm .pt"), std::string::npos);
    }
}

}  // namespace
}  // namespace embed
