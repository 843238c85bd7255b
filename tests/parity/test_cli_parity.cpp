// End to end against the upstream Python: the `embed` executable's outputs for the tiny ESM-2 and
// SeqVec compared with expected.h5, which fair-esm, transformers and bio_embeddings computed.
#include "base/digest.h"
#include "base/hdf5.h"

#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::data_file;
using testing::kExitBadInput;
using testing::kParityTolerance;
using testing::max_abs_diff;
using testing::read_tensor;
using testing::run_embed;
using testing::write_file;

std::string esm2_pt() {
    return data_file("esm2_tiny/esm2_tiny.pt").string();
}
std::string fixture_fasta() {
    return data_file("esm2_tiny/input.fasta").string();
}

// Compares values with expected.h5 from the upstream Python.
class CliParity : public Cli {};

TEST_F(CliParity, LayoutAttributesAndValues) {
    const auto result =
        run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() + " --layers all");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "done: 5 proteins, 278 residues")) << result.output;

    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    const std::vector<std::string> input_order = {"sp|P0CG48|UBC_HUMAN", "insulin_B", "crambin",
                                                  "melittin", "GFP_N"};
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_residue").id()), input_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()), input_order);

    for (const std::string& key : input_order) {
        const torch::Tensor residues = read_tensor(file.id(), "per_residue/" + key);
        const torch::Tensor proteins = read_tensor(file.id(), "per_protein/" + key);
        ASSERT_EQ(residues.dim(), 3);
        EXPECT_EQ(residues.size(0), 3);
        EXPECT_EQ(residues.size(2), 32);
        EXPECT_EQ(proteins.sizes(), (std::vector<int64_t>{3, 32}));
        for (int64_t layer = 0; layer < 3; ++layer) {
            const std::string ref = "esm2_tiny/" + key + "/";
            EXPECT_LT(
                max_abs_diff(residues[layer],
                             read_tensor(reference.id(), ref + "layer_" + std::to_string(layer))),
                kParityTolerance);
            EXPECT_LT(
                max_abs_diff(proteins[layer],
                             read_tensor(reference.id(), ref + "mean_" + std::to_string(layer))),
                kParityTolerance);
        }
        const h5::Handle d = h5::open_dataset(file.id(), "per_residue/" + key);
        EXPECT_EQ(h5::read_string_attribute(d.id(), "original_id"), key);
        EXPECT_EQ(h5::read_int_attribute(d.id(), "length"), residues.size(1));
    }
    const h5::Handle ubc = h5::open_dataset(file.id(), "per_protein/sp|P0CG48|UBC_HUMAN");
    EXPECT_EQ(h5::read_string_attribute(ubc.id(), "description"), "Polyubiquitin-C fragment");

    const hid_t root = file.id();
    EXPECT_EQ(h5::read_string_attribute(root, "model"), "esm2_tiny");
    EXPECT_EQ(h5::read_string_attribute(root, "model_family"), "ESM-2");
    EXPECT_EQ(h5::read_string_attribute(root, "checkpoint"), fs::canonical(esm2_pt()).string());
    EXPECT_EQ(h5::read_string_attribute(root, "checkpoint_sha256"), sha256_files({esm2_pt()}));
    EXPECT_EQ(h5::read_int_array_attribute(root, "layers"), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(h5::read_string_attribute(root, "pooling"), "mean");
    EXPECT_EQ(h5::read_int_attribute(root, "embedding_dim"), 32);
    EXPECT_EQ(h5::read_string_attribute(root, "tool_version"), EMBED_VERSION);
    EXPECT_TRUE(contains(h5::read_string_attribute(root, "command_line"), "--layers all"));
}

TEST_F(CliParity, DefaultIsLastLayerAndHuggingFaceMatches) {
    const auto result = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " +
                                  data_file("esm2_tiny/hf").string() + " --threads 1");
    ASSERT_EQ(result.status, 0) << result.output;
    for (const char* logged :
         {"--threads 1", "LibTorch ", "HDF5 ", "device cpu, float32, 1 CPU threads",
          "model hf (ESM-2, Hugging Face directory, 2 layers, width 32", "residues/s"}) {
        EXPECT_TRUE(contains(result.output, logged)) << logged << "\n" << result.output;
    }
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), std::vector<int64_t>{2});
    const torch::Tensor melittin = read_tensor(file.id(), "per_residue/melittin");
    EXPECT_EQ(melittin.sizes(), (std::vector<int64_t>{26, 32}));
    EXPECT_LT(max_abs_diff(melittin, read_tensor(reference.id(), "esm2_tiny/melittin/layer_2")),
              kParityTolerance);
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/melittin"),
                           read_tensor(reference.id(), "esm2_tiny/melittin/mean_2")),
              kParityTolerance);
}

TEST_F(CliParity, BosPooling) {
    ASSERT_EQ(run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() +
                        " --pooling bos --no-per-residue")
                  .status,
              0);
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    EXPECT_LT(H5Lexists(file.id(), "per_residue", H5P_DEFAULT), 1);
    EXPECT_EQ(h5::read_string_attribute(file.id(), "pooling"), "bos");
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/GFP_N"),
                           read_tensor(reference.id(), "esm2_tiny/GFP_N/bos_last")),
              kParityTolerance);
}

TEST_F(CliParity, LowercaseIsUpperCasedAndCounted) {
    write_file(dir_ / "lower.fasta", ">melittin\ngigavlkvlttglpalISWIKRKRQQ\n");
    const auto result =
        run_embed((dir_ / "lower.fasta").string() + " -o " + out_.string() + " -m " + esm2_pt());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "16 lower-case residues")) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_residue/melittin"),
                           read_tensor(reference.id(), "esm2_tiny/melittin/layer_2")),
              kParityTolerance);
}

TEST_F(CliParity, ContactsNeedTheRegressionWeights) {
    const auto result = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() +
                                  " --contacts --no-per-residue");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    const auto keys = h5::member_names(h5::open_group(file.id(), "contacts").id());
    ASSERT_EQ(keys.size(), 5u);
    EXPECT_EQ(keys.front(), "sp|P0CG48|UBC_HUMAN");
    const torch::Tensor crambin = read_tensor(file.id(), "contacts/crambin");
    EXPECT_EQ(crambin.sizes(), (std::vector<int64_t>{46, 46}));
    EXPECT_LT(max_abs_diff(crambin, read_tensor(reference.id(), "esm2_tiny/crambin/contacts")),
              kParityTolerance);
    const h5::Handle dataset = h5::open_dataset(file.id(), "contacts/crambin");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "length"), 46);

    // Contacts alone: no embeddings groups at all.
    const fs::path only = dir_ / "contacts_only.h5";
    const auto contacts_only =
        run_embed(fixture_fasta() + " -o " + only.string() + " -m " + esm2_pt() +
                  " --contacts --no-per-residue --no-per-protein");
    ASSERT_EQ(contacts_only.status, 0) << contacts_only.output;
    const h5::Handle only_file = h5::open_file(only.string());
    EXPECT_EQ(h5::member_names(h5::open_group(only_file.id(), "/").id()),
              (std::vector<std::string>{"contacts"}));

    // The .pt alone, without its sibling NAME-contact-regression.pt.
    fs::copy_file(esm2_pt(), dir_ / "esm2_tiny.pt");
    const auto missing = run_embed(fixture_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                   (dir_ / "esm2_tiny.pt").string() + " --contacts");
    EXPECT_EQ(missing.status, kExitBadInput);
    EXPECT_TRUE(contains(missing.output, "esm2_tiny.pt has no contact regression weights"))
        << missing.output;
    EXPECT_FALSE(fs::exists(dir_ / "none.h5"));
    const auto seqvec = run_embed(fixture_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                  data_file("seqvec_tiny").string() + " --contacts");
    EXPECT_EQ(seqvec.status, kExitBadInput);
    EXPECT_TRUE(contains(seqvec.output, "SeqVec predicts no contacts")) << seqvec.output;
}

// bfloat16 is no faster and rounder for SeqVec on the CPU: embed says so, and runs as asked; ESM
// models are not warned about.
TEST_F(CliParity, SeqVecInBFloat16OnTheCpuIsWarnedAbout) {
    const std::string warning = "SeqVec on the CPU runs no faster in bfloat16";
    const auto seqvec = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " +
                                  data_file("seqvec_tiny").string() + " --dtype bfloat16");
    ASSERT_EQ(seqvec.status, 0) << seqvec.output;
    EXPECT_TRUE(contains(seqvec.output, warning)) << seqvec.output;
    EXPECT_TRUE(contains(seqvec.output, "device cpu, bfloat16")) << seqvec.output;
    const auto esm = run_embed(fixture_fasta() + " -o " + (dir_ / "esm.h5").string() + " -m " +
                               esm2_pt() + " --dtype bfloat16");
    ASSERT_EQ(esm.status, 0) << esm.output;
    EXPECT_FALSE(contains(esm.output, warning)) << esm.output;
}

TEST_F(CliParity, SeqVecDefaultsToTheSumOfItsLayersAndItsMean) {
    const auto result = run_embed(data_file("seqvec_tiny/input.fasta").string() + " -o " +
                                  out_.string() + " -m " + data_file("seqvec_tiny").string());
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(data_file("expected.h5").string());
    EXPECT_EQ(h5::read_string_attribute(file.id(), "model_family"), "SeqVec");
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(h5::read_string_attribute(file.id(), "layer_reduction"), "sum");
    EXPECT_EQ(h5::read_int_attribute(file.id(), "max_length"), 0) << "SeqVec truncates nothing";
    EXPECT_TRUE(contains(result.output, "in 1 batch of at most 32768 tokens")) << result.output;
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_residue/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/per_residue_sum")),
              kParityTolerance);
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/per_protein")),
              kParityTolerance);

    const fs::path all = dir_ / "all.h5";
    ASSERT_EQ(run_embed(data_file("seqvec_tiny/input.fasta").string() + " -o " + all.string() +
                        " -m " + data_file("seqvec_tiny").string() + " --layers all")
                  .status,
              0);
    const h5::Handle layers = h5::open_file(all.string());
    EXPECT_EQ(h5::read_string_attribute(layers.id(), "layer_reduction"), "none");
    EXPECT_LT(max_abs_diff(read_tensor(layers.id(), "per_residue/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/layers")),
              kParityTolerance);

    const auto bos = run_embed(data_file("seqvec_tiny/input.fasta").string() + " -o " +
                               (dir_ / "bos.h5").string() + " -m " +
                               data_file("seqvec_tiny").string() + " --pooling bos");
    EXPECT_EQ(bos.status, kExitBadInput);
    EXPECT_TRUE(contains(bos.output, "SeqVec has no BOS token")) << bos.output;
}

}  // namespace
}  // namespace embed
