// The ESM token vocabulary, shared by ESM-1b and ESM-2 (fair-esm `Alphabet("ESM-1b")`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

namespace embed::esm {

constexpr int64_t kClsToken = 0;  // BOS
constexpr int64_t kPadToken = 1;
constexpr int64_t kEosToken = 2;
constexpr int64_t kMaskToken = 32;
constexpr int64_t kVocabularySize = 33;
/// BOS and EOS around every sequence.
constexpr int64_t kSpecialTokensPerSequence = 2;
/// ESM-1b's learned position table has max_positions + padding_idx + 1 rows: positions start
/// after the padding index.
constexpr int64_t kPositionTableExtraRows = kPadToken + 1;

/// Token of an upper-case residue character, or -1 when the alphabet lacks it.
int64_t residue_token(char residue);

/// Index of the first residue without a token, or npos.
size_t find_invalid_residue(std::string_view residues);

/// What the alphabet accepts, for error messages.
std::string alphabet_description();

/// `<cls> residues <eos>` per sequence, padded with `<pad>` to the longest: (B, longest + 2).
torch::Tensor tokenize(const std::vector<std::string_view>& residues_B);

}  // namespace embed::esm
