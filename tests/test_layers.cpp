#include "embed/layers.h"
#include "embed/pooling.h"

#include "test_support.h"

namespace embed {
namespace {

using Layers = std::vector<int64_t>;

TEST(Layers, DefaultIsTheLastLayer) {
    EXPECT_EQ(resolve_layers("", 6), Layers{6});
}

TEST(Layers, AllIsEmbeddingsThroughLast) {
    EXPECT_EQ(resolve_layers("all", 3), (Layers{0, 1, 2, 3}));
}

TEST(Layers, ListKeepsOrderAndCountsNegativesFromTheEnd) {
    EXPECT_EQ(resolve_layers("-1,0,3", 6), (Layers{6, 0, 3}));
    EXPECT_EQ(resolve_layers("-7", 6), Layers{0});
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
