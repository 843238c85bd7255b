#include "encode/layers.h"
#include "encode/pooling.h"

#include "test_support.h"

namespace embed {
namespace {

using Layers = std::vector<int64_t>;

TEST(Layers, DefaultIsTheLastLayerUnlessTheModelSaysOtherwise) {
    EXPECT_EQ(resolve_layers("", 6).layers, Layers{6});
    EXPECT_FALSE(resolve_layers("", 6).sum);
    const LayerSelection seqvec = resolve_layers("", 2, "sum");
    EXPECT_EQ(seqvec.layers, (Layers{0, 1, 2}));
    EXPECT_TRUE(seqvec.sum);
    EXPECT_EQ(seqvec.reduction(), "sum");
    EXPECT_EQ(resolve_layers("1", 2, "sum").layers, Layers{1}) << "given layers win";
}

TEST(Layers, AllIsEmbeddingsThroughLast) {
    EXPECT_EQ(resolve_layers("all", 3).layers, (Layers{0, 1, 2, 3}));
    EXPECT_EQ(resolve_layers("all", 3).reduction(), "none");
}

TEST(Layers, ListKeepsOrderAndCountsNegativesFromTheEnd) {
    EXPECT_EQ(resolve_layers("-1,0,3", 6).layers, (Layers{6, 0, 3}));
    EXPECT_EQ(resolve_layers("-7", 6).layers, Layers{0});
}

TEST(Layers, RejectsOutOfRangeDuplicatesAndJunk) {
    for (const char* bad : {"7", "-8", "1,1", "-1,6", "x", "1,,2", "1.5", ",", "1,", ",1"}) {
        EXPECT_THROW(resolve_layers(bad, 6), std::invalid_argument) << bad;
    }
}

TEST(Layers, MessageNamesTheValidRange) {
    try {
        resolve_layers("40", 33);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("-34..33"), std::string::npos) << e.what();
    }
}

TEST(Layers, SumAddsTheLayersUp) {
    EncodedBatch batch;
    batch.residues_NBLD = torch::arange(12.f).view({3, 1, 2, 2});
    const EncodedBatch summed = combine_layers(batch, resolve_layers("sum", 2));
    EXPECT_TRUE(torch::equal(summed.residues_NBLD,
                             torch::tensor({12.f, 15.f, 18.f, 21.f}).view({1, 1, 2, 2})));
    EXPECT_TRUE(torch::equal(combine_layers(batch, resolve_layers("all", 2)).residues_NBLD,
                             batch.residues_NBLD));
}

TEST(Pooling, MeanIsOverTheProteinsOwnResidues) {
    EncodedBatch batch;
    // 1 layer, 2 proteins, 3 rows, 2 dims; protein 1 has 2 residues and a padding row.
    batch.residues_NBLD =
        torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 10.f, 20.f, 30.f, 40.f, 999.f, 999.f})
            .view({1, 2, 3, 2});
    const torch::Tensor mean = pool(batch, 1, 2, Pooling::mean);
    EXPECT_TRUE(torch::allclose(mean, torch::tensor({{20.f, 30.f}})));
    EXPECT_EQ(parse_pooling("bos"), Pooling::bos);
    EXPECT_THROW(parse_pooling("max"), std::invalid_argument);
}

}  // namespace
}  // namespace embed
