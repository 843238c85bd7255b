#include "embed/model_registry.h"

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
        ASSERT_FALSE(card->downloads.empty());
        EXPECT_EQ(card->downloads[0],
                  "https://dl.fbaipublicfiles.com/fair-esm/models/" + std::string(r.name) + ".pt");
        EXPECT_EQ(card->hugging_face, "facebook/" + std::string(r.name));
    }
    EXPECT_EQ(find_model_card("esm2_t33_650M_UR50D")->parameters, 651043254);
    EXPECT_FALSE(find_model_card("esm3").has_value());
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
