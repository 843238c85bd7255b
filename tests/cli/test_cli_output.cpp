// End to end, what the output holds: groups, layers and their order, storage types, repeated
// sequences, the bio_embeddings layout, every kind of input, long proteins. On the tiny ESM-2 in
// tests/data.
#include <sys/stat.h>

#include "base/digest.h"
#include "base/hdf5.h"
#include "encode/runtime.h"

#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::example_fasta;
using testing::kBatchingTolerance;
using testing::kExitBadInput;
using testing::local_model;
using testing::max_abs_diff;
using testing::read_all;
using testing::read_tensor;
using testing::run_embed;
using testing::write_file;

TEST_F(Cli, NoPerProteinAndNothingAtAll) {
    ASSERT_EQ(run_embed(example_fasta() + " -o " + out_.string() + " -m " + local_model() +
                        " --no-per-protein")
                  .status,
              0);
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_LT(H5Lexists(file.id(), "per_protein", H5P_DEFAULT), 1);
    const auto none = run_embed(example_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                local_model() + " --no-per-protein --no-per-residue");
    EXPECT_EQ(none.status, kExitBadInput);
    EXPECT_TRUE(contains(none.output, "nothing to write")) << none.output;
}

TEST_F(Cli, PackedBatchesEqualOneByOne) {
    const fs::path packed = dir_ / "packed.h5";
    const fs::path single = dir_ / "single.h5";
    const std::string common = example_fasta() + " -m " + local_model() + " --layers all";
    const auto packed_run = run_embed(common + " -o " + packed.string() + " --max-tokens 100000");
    ASSERT_EQ(packed_run.status, 0);
    EXPECT_TRUE(contains(packed_run.output, "in 1 batch of")) << packed_run.output;
    const auto single_run = run_embed(common + " -o " + single.string() + " --max-tokens 1");
    ASSERT_EQ(single_run.status, 0);
    EXPECT_TRUE(contains(single_run.output, "in 5 batches")) << single_run.output;

    const h5::Handle a = h5::open_file(packed.string());
    const h5::Handle b = h5::open_file(single.string());
    for (const std::string group : {"per_residue/", "per_protein/"}) {
        for (const std::string& key : h5::member_names(h5::open_group(a.id(), group).id())) {
            EXPECT_LT(
                max_abs_diff(read_tensor(a.id(), group + key), read_tensor(b.id(), group + key)),
                kBatchingTolerance)
                << group << key;
        }
    }
}

TEST_F(Cli, LayersAreStoredInTheOrderGiven) {
    const auto result = run_embed(example_fasta() + " -o " + out_.string() + " -m " +
                                  local_model() + " --layers -1,0");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), (std::vector<int64_t>{2, 0}));
    const torch::Tensor both = read_tensor(file.id(), "per_residue/sp|P01308|INS_HUMAN");
    EXPECT_EQ(both.sizes(), (std::vector<int64_t>{2, 30, 32}));
    EXPECT_EQ(read_tensor(file.id(), "per_protein/sp|P01308|INS_HUMAN").sizes(),
              (std::vector<int64_t>{2, 32}));

    const fs::path last_only = dir_ / "last.h5";
    ASSERT_EQ(
        run_embed(example_fasta() + " -o " + last_only.string() + " -m " + local_model()).status,
        0);
    const h5::Handle last = h5::open_file(last_only.string());
    EXPECT_EQ(max_abs_diff(both[0], read_tensor(last.id(), "per_residue/sp|P01308|INS_HUMAN")),
              0.0);
}

TEST_F(Cli, Float16AndCompressedStorage) {
    const std::string run = example_fasta() + " -m " + local_model();
    ASSERT_EQ(run_embed(run + " -o " + out_.string()).status, 0);
    const fs::path small = dir_ / "small.h5";
    const auto result =
        run_embed(run + " -o " + small.string() + " --storage-dtype float16 --compress 4");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle full = h5::open_file(out_.string());
    const h5::Handle half = h5::open_file(small.string());
    EXPECT_EQ(h5::read_string_attribute(half.id(), "storage_dtype"), "float16");
    EXPECT_EQ(h5::read_int_attribute(half.id(), "compression"), 4);
    const h5::Handle dataset = h5::open_dataset(half.id(), "per_residue/sp|P42212|GFP_AEQVI");
    const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
    EXPECT_EQ(H5Tget_size(type.id()), 2u);
    const h5::Handle properties(H5Dget_create_plist(dataset.id()), H5Pclose, "properties");
    EXPECT_EQ(H5Pget_nfilters(properties.id()), 2) << "shuffle and gzip";
    const torch::Tensor reference = read_tensor(full.id(), "per_residue/sp|P42212|GFP_AEQVI");
    EXPECT_LT(max_abs_diff(read_tensor(half.id(), "per_residue/sp|P42212|GFP_AEQVI"), reference),
              2e-3 * reference.abs().max().item<double>())
        << "float16 keeps about 3 significant digits";
}

TEST_F(Cli, BFloat16ComputeIsRecordedAndFloat16NeedsAGpu) {
    const std::string run = example_fasta() + " -m " + local_model() + " --device cpu";
    const auto half = run_embed(run + " -o " + out_.string() + " --dtype float16");
    EXPECT_EQ(half.status, kExitBadInput);
    EXPECT_TRUE(contains(half.output, "--dtype float16 needs a CUDA device")) << half.output;
    EXPECT_FALSE(fs::exists(out_));

    const auto result = run_embed(run + " -o " + out_.string() + " --dtype bfloat16");
    ASSERT_EQ(result.status, 0) << result.output;
    // A CPU that multiplies bfloat16 slowly is named (the CI machines differ).
    EXPECT_EQ(contains(result.output, "--dtype bfloat16: this CPU has no"),
              !slow_cpu_bfloat16().empty())
        << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::read_string_attribute(file.id(), "dtype"), "bfloat16");
    const h5::Handle dataset = h5::open_dataset(file.id(), "per_protein/sp|P42212|GFP_AEQVI");
    const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
    EXPECT_EQ(H5Tget_size(type.id()), 4u) << "stored as float32 whatever the compute type";
}

TEST_F(Cli, IdenticalSequencesAreEmbeddedOnceAndWrittenForEveryId) {
    write_file(dir_ / "dup.fasta",
               ">a\nMKTAYIAKQR\n>b\nLLVVG\n>c first copy\nMKTAYIAKQR\n>d\nMKTAYIAKQR\n");
    const auto result =
        run_embed((dir_ / "dup.fasta").string() + " -o " + out_.string() + " -m " + local_model());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "2 proteins repeat an earlier sequence")) << result.output;
    EXPECT_TRUE(contains(result.output, "done: 2 proteins")) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()),
              (std::vector<std::string>{"a", "b", "c", "d"}));
    EXPECT_EQ(max_abs_diff(read_tensor(file.id(), "per_residue/a"),
                           read_tensor(file.id(), "per_residue/d")),
              0.0);
    const h5::Handle c = h5::open_dataset(file.id(), "per_residue/c");
    EXPECT_EQ(h5::read_string_attribute(c.id(), "original_id"), "c");
    EXPECT_EQ(h5::read_string_attribute(c.id(), "description"), "first copy");
    EXPECT_EQ(h5::read_int_attribute(c.id(), "index"), 2);
}

TEST_F(Cli, BioEmbeddingsLayoutKeysDistinctSequencesByMd5) {
    write_file(dir_ / "dup.fasta",
               ">a first\nMKTAYIAKQR\n>\"b\",x\nLLVVGA\n>c\nMKTAYIAKQR\n>d\nMKVL\n");
    const std::string input = (dir_ / "dup.fasta").string() + " -m " + local_model();
    const fs::path bio = dir_ / "bio";
    const auto result = run_embed(input + " -o " + bio.string() + " --layout bio-embeddings");
    ASSERT_EQ(result.status, 0) << result.output;
    ASSERT_EQ(run_embed(input + " -o " + out_.string()).status, 0);

    const std::string a = md5_hex("MKTAYIAKQR");
    const std::string b = md5_hex("LLVVGA");
    const std::string d = md5_hex("MKVL");
    // Both files keep their datasets in name order, as h5py writes them.
    const auto names_at_root = [](hid_t file) {
        return h5::member_names(h5::open_group(file, "/").id());
    };
    std::vector<std::string> keys = {a, b, d};
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(read_all(bio / "mapping_file.csv"), ",original_id,sequence_length\n" + a + ",a,10\n" +
                                                      b + ",\"\"\"b\"\",x\",6\n" + a + ",c,10\n" +
                                                      d + ",d,4\n");
    const h5::Handle reference = h5::open_file(out_.string());
    const h5::Handle residues = h5::open_file((bio / "embeddings_file.h5").string());
    const h5::Handle reduced = h5::open_file((bio / "reduced_embeddings_file.h5").string());
    for (const hid_t file : {residues.id(), reduced.id()}) {
        EXPECT_EQ(names_at_root(file), keys);
        const h5::Handle dataset = h5::open_dataset(file, a);
        EXPECT_EQ(h5::read_string_attribute(dataset.id(), "original_id"), "a");
    }
    for (const auto& [key, id] : {std::pair{a, "a"}, std::pair{b, "\"b\",x"}}) {
        EXPECT_EQ(max_abs_diff(read_tensor(residues.id(), key),
                               read_tensor(reference.id(), std::string("per_residue/") + id)),
                  0.0);
        EXPECT_EQ(max_abs_diff(read_tensor(reduced.id(), key),
                               read_tensor(reference.id(), std::string("per_protein/") + id)),
                  0.0);
    }

    const auto again = run_embed(input + " -o " + bio.string() + " --layout bio-embeddings");
    EXPECT_EQ(again.status, kExitBadInput);
    const auto replaced = run_embed(input + " -o " + bio.string() +
                                    " --layout bio-embeddings --overwrite --no-per-residue");
    ASSERT_EQ(replaced.status, 0) << replaced.output;
    EXPECT_FALSE(fs::exists(bio / "embeddings_file.h5"));
    EXPECT_TRUE(fs::exists(bio / "reduced_embeddings_file.h5"));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 3)
        << "dup.fasta, bio, out.h5 and nothing left over";

    // The shards of an array job, merged into the same layout.
    std::string shards;
    for (int i = 1; i <= 2; ++i) {
        const fs::path shard = dir_ / ("shard_" + std::to_string(i) + ".h5");
        ASSERT_EQ(
            run_embed(input + " -o " + shard.string() + " --shard " + std::to_string(i) + "/2")
                .status,
            0);
        shards += " " + shard.string();
    }
    const fs::path merged = dir_ / "merged";
    const auto merge =
        run_embed("merge" + shards + " -o " + merged.string() + " --layout bio-embeddings");
    ASSERT_EQ(merge.status, 0) << merge.output;
    EXPECT_EQ(read_all(merged / "mapping_file.csv"), read_all(bio / "mapping_file.csv"));
    const h5::Handle merged_residues = h5::open_file((merged / "embeddings_file.h5").string());
    EXPECT_EQ(names_at_root(merged_residues.id()), keys);
}

TEST_F(Cli, StandardInputPipesAndGzipGiveTheSameResult) {
    const fs::path from_file = dir_ / "file.h5";
    const fs::path from_stdin = dir_ / "stdin.h5";
    const fs::path from_gzip = dir_ / "gzip.h5";
    const fs::path from_pipe = dir_ / "pipe.h5";
    const std::string model = " -m " + local_model();
    ASSERT_EQ(run_embed(example_fasta() + " -o " + from_file.string() + model).status, 0);
    ASSERT_EQ(run_embed("- -o " + from_stdin.string() + model + " < " + example_fasta()).status, 0);
    ASSERT_EQ(
        std::system(("gzip -c " + example_fasta() + " > " + (dir_ / "in.fa.gz").string()).c_str()),
        0);
    ASSERT_EQ(run_embed((dir_ / "in.fa.gz").string() + " -o " + from_gzip.string() + model).status,
              0);
    // A named pipe, as bash's <(zcat in.fa.gz) gives: it can be read only once.
    const fs::path pipe = dir_ / "pipe.fasta";
    ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
    ASSERT_EQ(std::system(("cat " + example_fasta() + " > " + pipe.string() + " &").c_str()), 0);
    const auto piped = run_embed(pipe.string() + " -o " + from_pipe.string() + model);
    ASSERT_EQ(piped.status, 0) << piped.output;
    const h5::Handle a = h5::open_file(from_file.string());
    for (const fs::path& other : {from_stdin, from_gzip, from_pipe}) {
        const h5::Handle b = h5::open_file(other.string());
        EXPECT_EQ(max_abs_diff(read_tensor(a.id(), "per_residue/sp|P01542|CRAM_CRAAB"),
                               read_tensor(b.id(), "per_residue/sp|P01542|CRAM_CRAAB")),
                  0.0);
    }
}

TEST_F(Cli, LongProteinsAreChunkedTruncatedSkippedOrRejected) {
    const auto truncated = run_embed(example_fasta() + " -o " + out_.string() + " -m " +
                                     local_model() + " --max-length 40 --long truncate");
    ASSERT_EQ(truncated.status, 0) << truncated.output;
    EXPECT_TRUE(contains(truncated.output,
                         "record 'sp|P42212|GFP_AEQVI': 100 residues, truncated to the first 40"))
        << truncated.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(read_tensor(file.id(), "per_residue/sp|P42212|GFP_AEQVI").size(0), 40);
    const h5::Handle gfp = h5::open_dataset(file.id(), "per_residue/sp|P42212|GFP_AEQVI");
    EXPECT_EQ(h5::read_int_attribute(gfp.id(), "length"), 40);
    EXPECT_EQ(h5::read_int_attribute(gfp.id(), "original_length"), 100);
    EXPECT_EQ(read_tensor(file.id(), "per_residue/sp|P01501|MEL_APIME").size(0), 26);

    // The default: every residue, from overlapping windows; short proteins as they were.
    const fs::path chunked_out = dir_ / "chunked.h5";
    const auto chunked = run_embed(example_fasta() + " -o " + chunked_out.string() + " -m " +
                                   local_model() + " --max-length 40");
    ASSERT_EQ(chunked.status, 0) << chunked.output;
    EXPECT_TRUE(contains(chunked.output, "100 residues, embedded in 4 overlapping windows of 40"))
        << chunked.output;
    const h5::Handle whole = h5::open_file(chunked_out.string());
    EXPECT_EQ(read_tensor(whole.id(), "per_residue/sp|P42212|GFP_AEQVI").size(0), 100);
    EXPECT_LT(max_abs_diff(read_tensor(whole.id(), "per_residue/sp|P01501|MEL_APIME"),
                           read_tensor(file.id(), "per_residue/sp|P01501|MEL_APIME")),
              kBatchingTolerance)
        << "a protein within the limit is embedded as it was";

    const fs::path skipped_out = dir_ / "skipped.h5";
    const auto skipped = run_embed(example_fasta() + " -o " + skipped_out.string() + " -m " +
                                   local_model() + " --max-length 40 --long skip");
    ASSERT_EQ(skipped.status, 0) << skipped.output;
    EXPECT_EQ(h5::member_names(
                  h5::open_group(h5::open_file(skipped_out.string()).id(), "per_residue").id()),
              (std::vector<std::string>{"sp|P01308|INS_HUMAN", "sp|P01501|MEL_APIME"}));

    const fs::path rejected_out = dir_ / "rejected.h5";
    const auto rejected = run_embed(example_fasta() + " -o " + rejected_out.string() + " -m " +
                                    local_model() + " --max-length 40 --long error");
    EXPECT_EQ(rejected.status, kExitBadInput);
    EXPECT_TRUE(contains(rejected.output,
                         ":1: record 'sp|P0CG48|UBC_HUMAN': 76 residues is longer than "
                         "--max-length 40"))
        << rejected.output;
    EXPECT_FALSE(fs::exists(rejected_out));
}

}  // namespace
}  // namespace embed
