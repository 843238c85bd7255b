#include "models/esm/alphabet.h"

#include <algorithm>
#include <array>

namespace embed::esm {
namespace {

// Residue tokens 4..30, in fair-esm's order (proteinseq_toks["toks"]).
constexpr std::string_view kResidues = "LAGVSERTIDPKQNFYMHWCXBUZO.-";
constexpr int64_t kFirstResidueToken = 4;

const std::array<int8_t, 256>& token_table() {
    static const std::array<int8_t, 256> table = [] {
        std::array<int8_t, 256> t{};
        t.fill(-1);
        for (size_t i = 0; i < kResidues.size(); ++i) {
            t[static_cast<unsigned char>(kResidues[i])] =
                static_cast<int8_t>(kFirstResidueToken + static_cast<int64_t>(i));
        }
        return t;
    }();
    return table;
}

}  // namespace

int64_t residue_token(char residue) {
    return token_table()[static_cast<unsigned char>(residue)];
}

size_t find_invalid_residue(std::string_view residues) {
    const auto it =
        std::find_if(residues.begin(), residues.end(), [](char c) { return residue_token(c) < 0; });
    return it == residues.end() ? std::string_view::npos
                                : static_cast<size_t>(it - residues.begin());
}

std::string alphabet_description() {
    return "the 20 standard amino acids, X B U Z O, '.' and '-'";
}

torch::Tensor tokenize(const std::vector<std::string_view>& residues_B) {
    size_t longest = 0;
    for (const std::string_view r : residues_B) {
        longest = std::max(longest, r.size());
    }
    const auto batch = static_cast<int64_t>(residues_B.size());
    const auto width = static_cast<int64_t>(longest) + kSpecialTokensPerSequence;
    torch::Tensor tokens_BT = torch::full({batch, width}, kPadToken, torch::kInt64);
    auto access = tokens_BT.accessor<int64_t, 2>();
    for (int64_t b = 0; b < batch; ++b) {
        const std::string_view r = residues_B[b];
        access[b][0] = kClsToken;
        for (size_t i = 0; i < r.size(); ++i) {
            access[b][static_cast<int64_t>(i) + 1] = residue_token(r[i]);
        }
        access[b][static_cast<int64_t>(r.size()) + 1] = kEosToken;
    }
    return tokens_BT;
}

}  // namespace embed::esm
