// Stage 5: the files of embeddings, their parts and their merge.
#include "base/hdf5.h"
#include "input/keys.h"
#include "output/hdf5_writer.h"
#include "output/merge.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::contains;
using testing::TempDir;

ProteinEmbedding protein(const std::string& id, uint64_t index, int64_t layers, int64_t length,
                         float fill) {
    return testing::filled_protein(id, index, layers, length, 4, fill);
}

RunAttributes attributes(int64_t proteins) {
    RunAttributes a;
    a.model = "esm2_t6_8M_UR50D";
    a.layers = {6};
    a.pooling = "mean";
    a.embedding_dim = 4;
    a.groups = "per_residue,per_protein";
    a.input_proteins = proteins;
    a.command_line = "embed in.fasta -o out.h5";
    return a;
}

std::string merge_error(const std::vector<std::filesystem::path>& parts,
                        const std::filesystem::path& out, const RunAttributes& a,
                        MergeOptions options) {
    try {
        merge_files(parts, out, a, options);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Hdf5Writer, PartsMergeInInputOrderWithAliasesAsCopies) {
    TempDir dir;
    const RunAttributes run = attributes(4);
    {
        Hdf5Writer first(dir / "1.h5", OutputGroups{});
        first.write(protein("c", 2, 1, 3, 2.f));
        first.write(protein("a/1", 0, 1, 5, 0.f));
        first.finish(run);
        Hdf5Writer second(dir / "2.h5", OutputGroups{});
        second.write_alias(AliasEntry{"d", "d", "same as c", 3, 3, 2});
        second.write(protein("b", 1, 1, 1, 1.f));
        second.finish(run);
    }
    const auto out = dir / "out.h5";
    EXPECT_EQ(merge_files({dir / "1.h5", dir / "2.h5"}, out, run, MergeOptions{true, &run}), 4u);

    const h5::Handle file = h5::open_file(out.string());
    const std::vector<std::string> expected_order = {"a_1", "b", "c", "d"};
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_residue").id()), expected_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()), expected_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "/").id()),
              (std::vector<std::string>{"per_protein", "per_residue"}))
        << "no alias group in the merged file";

    const h5::FloatArray a = h5::read_float_dataset(file.id(), "per_residue/a_1");
    EXPECT_EQ(a.shape, (std::vector<hsize_t>{5, 4})) << "one layer is stored as (L, D)";
    const h5::FloatArray d = h5::read_float_dataset(file.id(), "per_protein/d");
    EXPECT_EQ(d.shape, (std::vector<hsize_t>{4}));
    EXPECT_EQ(d.values[0], 2.f) << "the alias holds its protein's data";

    const h5::Handle dataset = h5::open_dataset(file.id(), "per_residue/a_1");
    EXPECT_EQ(h5::read_string_attribute(dataset.id(), "original_id"), "a/1");
    EXPECT_EQ(h5::read_string_attribute(dataset.id(), "description"), "about a/1");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "length"), 5);
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "index"), 0);
    EXPECT_FALSE(h5::has_attribute(dataset.id(), "original_length"));
    const h5::Handle alias = h5::open_dataset(file.id(), "per_protein/d");
    EXPECT_EQ(h5::read_string_attribute(alias.id(), "original_id"), "d");
    EXPECT_EQ(h5::read_string_attribute(alias.id(), "description"), "same as c");
    EXPECT_EQ(h5::read_int_attribute(alias.id(), "index"), 3);
    EXPECT_EQ(h5::read_int_attribute(alias.id(), "length"), 3);
    EXPECT_EQ(h5::read_string_attribute(file.id(), "model"), "esm2_t6_8M_UR50D");
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), std::vector<int64_t>{6});
    EXPECT_EQ(h5::read_int_attribute(file.id(), "proteins"), 4);
}

TEST(Hdf5Writer, MergeRefusesDoublesGapsAndOtherSettings) {
    TempDir dir;
    const RunAttributes run = attributes(3);
    RunAttributes other = run;
    other.pooling = "bos";
    {
        Hdf5Writer first(dir / "1.h5", OutputGroups{});
        first.write(protein("a", 0, 1, 2, 0.f));
        first.finish(run);
        Hdf5Writer again(dir / "2.h5", OutputGroups{});
        again.write(protein("a", 0, 1, 2, 0.f));
        again.finish(run);
        Hdf5Writer bos(dir / "3.h5", OutputGroups{});
        bos.write(protein("b", 1, 1, 2, 0.f));
        bos.finish(other);
    }
    EXPECT_TRUE(
        contains(merge_error({dir / "1.h5", dir / "2.h5"}, dir / "o.h5", run, {false, &run}),
                 "protein 'a' (input protein 1) is in both"));
    EXPECT_TRUE(contains(merge_error({dir / "1.h5"}, dir / "o.h5", run, {true, &run}),
                         "2 of the input's 3 proteins are in none of the files (the first is "
                         "input protein 2)"));
    const std::string differs =
        merge_error({dir / "1.h5", dir / "3.h5"}, dir / "o.h5", run, {false, &run});
    EXPECT_TRUE(contains(differs, "3.h5 was written with other settings:\n  pooling: mean vs bos"))
        << differs;
}

TEST(Hdf5Writer, SeveralLayersKeepTheLayerAxisAndTruncationIsRecorded) {
    TempDir dir;
    const auto path = dir / "out.h5";
    {
        Hdf5Writer writer(path, OutputGroups{true, false});
        ProteinEmbedding p = protein("x", 0, 3, 2, 1.f);
        p.original_length = 7;
        writer.write(p);
        writer.finish(attributes(1));
    }
    const h5::Handle file = h5::open_file(path.string());
    EXPECT_EQ(h5::read_float_dataset(file.id(), "per_residue/x").shape,
              (std::vector<hsize_t>{3, 2, 4}));
    EXPECT_LT(H5Lexists(file.id(), "per_protein", H5P_DEFAULT), 1);
    const h5::Handle dataset = h5::open_dataset(file.id(), "per_residue/x");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "original_length"), 7);
}

TEST(Hdf5Writer, Float16AndCompressedDatasetsReadBackAsFloat) {
    TempDir dir;
    const auto path = dir / "out.h5";
    ProteinEmbedding p = protein("x", 0, 1, 3000, 0.f);
    p.per_residue_NLD = torch::linspace(-2, 2, 3000 * 4).reshape({1, 3000, 4});
    {
        Hdf5Writer writer(path, OutputGroups{}, StorageOptions{torch::kFloat16, 6});
        writer.write(p);
        writer.finish(attributes(1));
    }
    const h5::Handle file = h5::open_file(path.string());
    const h5::Handle dataset = h5::open_dataset(file.id(), "per_residue/x");
    const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
    EXPECT_EQ(H5Tget_size(type.id()), 2u) << "IEEE half precision on disk";
    const h5::Handle properties(H5Dget_create_plist(dataset.id()), H5Pclose, "properties");
    EXPECT_EQ(H5Pget_nfilters(properties.id()), 2) << "shuffle and gzip";
    const h5::FloatArray back = h5::read_float_dataset(file.id(), "per_residue/x");
    const torch::Tensor values =
        torch::from_blob(const_cast<float*>(back.values.data()), {3000, 4});
    EXPECT_LT((values - p.per_residue_NLD[0]).abs().max().item<float>(), 1e-3);
}

TEST(DatasetKey, SlashesBecomeUnderscoresAndDotsAreRejected) {
    EXPECT_EQ(dataset_key("sp|P12345|A/B"), "sp|P12345|A_B");
    EXPECT_EQ(invalid_key_reason("ok"), "");
    EXPECT_NE(invalid_key_reason("."), "");
    EXPECT_NE(invalid_key_reason(".."), "");
}

}  // namespace
}  // namespace embed
