// --long chunk: windows that cover a long protein, and how close the stitched embedding is to
// the model reading the protein whole.
#include "encode/encoder.h"
#include "input/long_proteins.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

TEST(LongProteins, WindowsCoverTheProteinWithinTheLimit) {
    EXPECT_EQ(windows_of(10, 20).size(), 1u) << "a protein within the limit is one window";
    for (const int64_t length : {21, 100, 1023, 5000, 35000}) {
        const std::vector<Window> windows = windows_of(length, 1022 > length ? 20 : 1022);
        ASSERT_GT(windows.size(), 1u);
        EXPECT_EQ(windows.front().start, 0);
        EXPECT_EQ(windows.back().start + windows.back().length, length);
        for (size_t w = 0; w < windows.size(); ++w) {
            EXPECT_LE(windows[w].length, 1022);
            if (w > 0) {
                EXPECT_GT(windows[w].start, windows[w - 1].start);
                EXPECT_LE(windows[w].start, windows[w - 1].start + windows[w - 1].length)
                    << "windows overlap or touch";
            }
        }
        const std::vector<size_t> central = central_windows(length, windows);
        ASSERT_EQ(central.size(), static_cast<size_t>(length));
        for (int64_t i = 0; i < length; ++i) {
            const Window& w = windows[central[static_cast<size_t>(i)]];
            EXPECT_TRUE(i >= w.start && i < w.start + w.length) << i;
            if (i > 0) {
                EXPECT_GE(central[static_cast<size_t>(i)], central[static_cast<size_t>(i - 1)])
                    << "each window gives one contiguous run";
            }
        }
    }
}

TEST(LongProteins, ResiduesComeFromTheWindowWhereTheyAreMostCentral) {
    // 0..99 in windows of 40 at 0, 20, 40, 60: residue 30 is 10 from the edges of the first
    // window and 10 into the second, whose far edge is 29 away; it goes to the second.
    const std::vector<Window> windows = windows_of(100, 40);
    ASSERT_EQ(windows.size(), 4u);
    const std::vector<size_t> central = central_windows(100, windows);
    EXPECT_EQ(central[0], 0u) << "the protein's start has no better window";
    EXPECT_EQ(central[30], 1u);
    EXPECT_EQ(central[50], 2u);
    EXPECT_EQ(central[99], 3u);
}

TEST(LongProteins, EachWindowSuppliesOneRunAndTheRunsTileTheProtein) {
    for (const auto& [length, limit] : {std::pair<int64_t, int64_t>{100, 40}, {2500, 1022}}) {
        const std::vector<Window> windows = windows_of(length, limit);
        const std::vector<size_t> central = central_windows(length, windows);
        int64_t next = 0;  // the first residue no run has supplied yet
        for (size_t w = 0; w < windows.size(); ++w) {
            const Window run = central_run(central, windows[w], w);
            if (run.length == 0) {
                continue;
            }
            EXPECT_EQ(run.start, next) << "window " << w << " of a protein of " << length;
            EXPECT_GE(run.start, windows[w].start);
            EXPECT_LE(run.start + run.length, windows[w].start + windows[w].length);
            for (int64_t i = run.start; i < run.start + run.length; ++i) {
                ASSERT_EQ(central[static_cast<size_t>(i)], w) << i;
            }
            next = run.start + run.length;
        }
        EXPECT_EQ(next, length);
    }
}

// Tiny ESM-2 (random weights, global attention): the stitched rows against one pass over the
// whole protein, away from the seams. Random weights make context matter as much as a
// trained model's or more, so this bounds the approximation rather than flatters it.
TEST(LongProteins, Esm2ChunksAgreeWithTheFullPassAwayFromTheSeams) {
    const auto encoder = load_encoder(testing::data_file("esm2_tiny/esm2_tiny.pt"), LoadOptions{});
    std::string protein;
    for (int i = 0; i < 300; ++i) {
        protein += "ACDEFGHIKLMNPQRSTVWY"[(i * 7 + i / 3) % 20];
    }
    EncodeRequest request;
    request.layers = {2};
    const torch::Tensor full_LD = encoder->encode({protein}, request).residues_NBLD[0][0];
    const std::vector<Window> windows = windows_of(300, 100);
    const std::vector<size_t> central = central_windows(300, windows);
    double worst_cosine = 1;
    for (size_t w = 0; w < windows.size(); ++w) {
        const std::string_view piece =
            std::string_view(protein).substr(static_cast<size_t>(windows[w].start), 100);
        const torch::Tensor rows_LD = encoder->encode({piece}, request).residues_NBLD[0][0];
        for (int64_t i = windows[w].start; i < windows[w].start + 100; ++i) {
            if (central[static_cast<size_t>(i)] != w) {
                continue;
            }
            const double cosine =
                torch::cosine_similarity(rows_LD[i - windows[w].start], full_LD[i], 0)
                    .item<double>();
            worst_cosine = std::min(worst_cosine, cosine);
        }
    }
    std::cout << "[ chunks   ] tiny ESM-2, 300 residues in windows of 100: worst per-residue "
              << "cosine similarity to the full pass " << worst_cosine << "\n";
    EXPECT_GT(worst_cosine, 0.98);
}

}  // namespace
}  // namespace embed
