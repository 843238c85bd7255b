#include "embed/hdf5_writer.h"
#include "embed/util/hdf5.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::TempDir;

ProteinEmbedding protein(const std::string& id, int64_t layers, int64_t length, float fill) {
    ProteinEmbedding p;
    p.key = dataset_key(id);
    p.original_id = id;
    p.description = "about " + id;
    p.length = length;
    p.original_length = length;
    p.per_residue_NLD = torch::full({layers, length, 4}, fill);
    p.per_protein_ND = torch::full({layers, 4}, fill);
    return p;
}

RunAttributes attributes() {
    RunAttributes a;
    a.model = "esm2_t6_8M_UR50D";
    a.layers = {6};
    a.pooling = "mean";
    a.embedding_dim = 4;
    a.command_line = "embed in.fasta -o out.h5";
    return a;
}

TEST(Hdf5Writer, ProteinsAppearInIndexOrderWhateverTheWriteOrder) {
    TempDir dir;
    const auto path = dir / "out.h5";
    {
        Hdf5Writer writer(path, OutputGroups{});
        writer.write(2, protein("c", 1, 3, 2.f));
        writer.write(0, protein("a/1", 1, 5, 0.f));
        writer.write(1, protein("b", 1, 1, 1.f));
        writer.finish(attributes());
    }
    const h5::Handle file = h5::open_file(path.string());
    const std::vector<std::string> expected_order = {"a_1", "b", "c"};
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_residue").id()), expected_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()), expected_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "/").id()),
              (std::vector<std::string>{"per_protein", "per_residue"}))
        << "the staging group must be gone";

    const h5::FloatArray a = h5::read_float_dataset(file.id(), "per_residue/a_1");
    EXPECT_EQ(a.shape, (std::vector<hsize_t>{5, 4})) << "one layer is stored as (L, D)";
    const h5::FloatArray c = h5::read_float_dataset(file.id(), "per_protein/c");
    EXPECT_EQ(c.shape, (std::vector<hsize_t>{4}));
    EXPECT_EQ(c.values[0], 2.f);

    const h5::Handle dataset = h5::open_dataset(file.id(), "per_residue/a_1");
    EXPECT_EQ(h5::read_string_attribute(dataset.id(), "original_id"), "a/1");
    EXPECT_EQ(h5::read_string_attribute(dataset.id(), "description"), "about a/1");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "length"), 5);
    EXPECT_FALSE(h5::has_attribute(dataset.id(), "original_length"));
    EXPECT_EQ(h5::read_string_attribute(file.id(), "model"), "esm2_t6_8M_UR50D");
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), std::vector<int64_t>{6});
    EXPECT_EQ(h5::read_int_attribute(file.id(), "proteins"), 3);
}

TEST(Hdf5Writer, SeveralLayersKeepTheLayerAxisAndTruncationIsRecorded) {
    TempDir dir;
    const auto path = dir / "out.h5";
    {
        Hdf5Writer writer(path, OutputGroups{true, false});
        ProteinEmbedding p = protein("x", 3, 2, 1.f);
        p.original_length = 7;
        writer.write(0, p);
        writer.finish(attributes());
    }
    const h5::Handle file = h5::open_file(path.string());
    EXPECT_EQ(h5::read_float_dataset(file.id(), "per_residue/x").shape,
              (std::vector<hsize_t>{3, 2, 4}));
    EXPECT_LT(H5Lexists(file.id(), "per_protein", H5P_DEFAULT), 1);
    const h5::Handle dataset = h5::open_dataset(file.id(), "per_residue/x");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "original_length"), 7);
}

TEST(Hdf5Writer, GapsAndRepeatsAreProgrammingErrors) {
    TempDir dir;
    Hdf5Writer writer(dir / "out.h5", OutputGroups{});
    writer.write(1, protein("b", 1, 1, 1.f));
    EXPECT_THROW(writer.write(1, protein("b", 1, 1, 1.f)), std::logic_error);
    EXPECT_THROW(writer.finish(attributes()), std::logic_error);
}

TEST(DatasetKey, SlashesBecomeUnderscoresAndDotsAreRejected) {
    EXPECT_EQ(dataset_key("sp|P12345|A/B"), "sp|P12345|A_B");
    EXPECT_EQ(invalid_key_reason("ok"), "");
    EXPECT_NE(invalid_key_reason("."), "");
    EXPECT_NE(invalid_key_reason(".."), "");
}

}  // namespace
}  // namespace embed
