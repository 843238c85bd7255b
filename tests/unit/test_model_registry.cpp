#include "encode/encoder.h"
#include "hub/model_registry.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

TEST(ModelRegistry, EveryReleasedEsm2ModelHasACard) {
    struct Released {
        const char* name;
        int64_t layers, width, heads;
    };
    // fair-esm's pretrained.py and the ESM-2 paper.
    const Released released[] = {
        {"esm2_t6_8M_UR50D", 6, 320, 20},     {"esm2_t12_35M_UR50D", 12, 480, 20},
        {"esm2_t30_150M_UR50D", 30, 640, 20}, {"esm2_t33_650M_UR50D", 33, 1280, 20},
        {"esm2_t36_3B_UR50D", 36, 2560, 40},  {"esm2_t48_15B_UR50D", 48, 5120, 40}};
    for (const Released& r : released) {
        const std::optional<ModelCard> card = find_model_card(r.name);
        ASSERT_TRUE(card.has_value()) << r.name;
        EXPECT_EQ(card->family, "ESM-2");
        EXPECT_EQ(card->layers, r.layers) << r.name;
        EXPECT_EQ(card->embedding_dim, r.width) << r.name;
        EXPECT_EQ(card->attention_heads, r.heads) << r.name;
        EXPECT_EQ(card->license, "MIT");
        EXPECT_EQ(card->checkpoint, std::string(r.name) + ".pt");
        ASSERT_EQ(card->files.size(), 2u);
        EXPECT_EQ(card->files[0].urls.at(0),
                  "https://dl.fbaipublicfiles.com/fair-esm/models/" + std::string(r.name) + ".pt");
        EXPECT_FALSE(card->files[0].optional);
        EXPECT_EQ(card->files[1].name, std::string(r.name) + "-contact-regression.pt");
        EXPECT_TRUE(card->files[1].optional);
        EXPECT_EQ(card->hugging_face, "facebook/" + std::string(r.name));
    }
    EXPECT_EQ(find_model_card("esm2_t33_650M_UR50D")->parameters, 651043254);
    EXPECT_FALSE(find_model_card("esm3").has_value());
}

TEST(ModelRegistry, Esm1bAndSeqVecHaveCards) {
    const std::optional<ModelCard> esm1b = find_model_card("esm1b_t33_650M_UR50S");
    ASSERT_TRUE(esm1b.has_value());
    EXPECT_EQ(esm1b->family, "ESM-1b");
    EXPECT_EQ(esm1b->max_residues, 1022);
    const std::optional<ModelCard> seqvec = find_model_card("seqvec");
    ASSERT_TRUE(seqvec.has_value());
    EXPECT_EQ(seqvec->checkpoint, ".");
    ASSERT_EQ(seqvec->files.size(), 2u);
    EXPECT_EQ(seqvec->files[1].name, "weights.hdf5");
    EXPECT_EQ(seqvec->files[1].md5, "0249d59249a50b43b79f641ff2ba7e88");
    EXPECT_EQ(seqvec->files[1].urls.size(), 2u) << "a mirror after the primary";
}

TEST(ModelRegistry, Esm1vIsFiveModelsWithoutContactRegression) {
    for (int i = 1; i <= 5; ++i) {
        const std::string name = "esm1v_t33_650M_UR90S_" + std::to_string(i);
        const std::optional<ModelCard> card = find_model_card(name);
        ASSERT_TRUE(card.has_value()) << name;
        EXPECT_EQ(card->family, "ESM-1v");
        EXPECT_EQ(card->max_residues, 1022);
        ASSERT_EQ(card->files.size(), 1u) << "fair-esm publishes no contact regression for ESM-1v";
        EXPECT_EQ(card->files[0].urls.at(0),
                  "https://dl.fbaipublicfiles.com/fair-esm/models/" + name + ".pt");
    }
}

TEST(ModelRegistry, EveryCardsFamilyHasALoader) {
    for (const ModelCard& card : model_cards()) {
        EXPECT_NO_THROW(family_of_card(card.family)) << card.name << ": " << card.family;
    }
}

TEST(ModelRegistry, CardsAreSortedByFamilyThenSize) {
    const auto& cards = model_cards();
    ASSERT_GE(cards.size(), 6u);
    for (size_t i = 1; i < cards.size(); ++i) {
        EXPECT_TRUE(cards[i - 1].family < cards[i].family ||
                    (cards[i - 1].family == cards[i].family &&
                     cards[i - 1].parameters <= cards[i].parameters));
    }
}

}  // namespace
}  // namespace embed
