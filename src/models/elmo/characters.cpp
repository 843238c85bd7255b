#include "models/elmo/characters.h"

#include <algorithm>

namespace embed::elmo {
namespace {

// bilm-tf's special characters, above the 256 byte values.
constexpr int64_t kBeginOfSentence = 256;
constexpr int64_t kEndOfSentence = 257;
constexpr int64_t kBeginOfWord = 258;
constexpr int64_t kEndOfWord = 259;
constexpr int64_t kPadding = 260;
// Every id is shifted by one: 0 is reserved for "no token here".
constexpr int64_t kIdOffset = 1;
// Begin- and end-of-word take two of a token's characters.
constexpr int64_t kWordMarkers = 2;

std::vector<int64_t> with_markers(const std::vector<int64_t>& inner, int64_t max_characters) {
    std::vector<int64_t> ids(static_cast<size_t>(max_characters), kPadding + kIdOffset);
    ids[0] = kBeginOfWord + kIdOffset;
    for (size_t i = 0; i < inner.size(); ++i) {
        ids[i + 1] = inner[i] + kIdOffset;
    }
    ids[inner.size() + 1] = kEndOfWord + kIdOffset;
    return ids;
}

}  // namespace

std::vector<int64_t> word_characters(std::string_view word, int64_t max_characters) {
    const size_t kept = std::min(word.size(), static_cast<size_t>(max_characters - kWordMarkers));
    std::vector<int64_t> bytes;
    for (size_t i = 0; i < kept; ++i) {
        bytes.push_back(static_cast<unsigned char>(word[i]));
    }
    return with_markers(bytes, max_characters);
}

std::vector<int64_t> boundary_characters(Boundary boundary, int64_t max_characters) {
    return with_markers(
        {boundary == Boundary::begin_of_sentence ? kBeginOfSentence : kEndOfSentence},
        max_characters);
}

torch::Tensor sentence_characters(const std::vector<std::vector<std::string_view>>& sentences_B,
                                  int64_t max_characters) {
    size_t longest = 0;
    for (const auto& sentence : sentences_B) {
        longest = std::max(longest, sentence.size());
    }
    const auto batch = static_cast<int64_t>(sentences_B.size());
    const auto width = static_cast<int64_t>(longest) + 2;
    torch::Tensor ids_BTC = torch::zeros({batch, width, max_characters}, torch::kInt64);
    auto access = ids_BTC.accessor<int64_t, 3>();
    const auto put = [&](int64_t b, int64_t t, const std::vector<int64_t>& ids) {
        for (int64_t c = 0; c < max_characters; ++c) {
            access[b][t][c] = ids[static_cast<size_t>(c)];
        }
    };
    const std::vector<int64_t> begin =
        boundary_characters(Boundary::begin_of_sentence, max_characters);
    const std::vector<int64_t> end = boundary_characters(Boundary::end_of_sentence, max_characters);
    for (int64_t b = 0; b < batch; ++b) {
        const auto& sentence = sentences_B[static_cast<size_t>(b)];
        put(b, 0, begin);
        for (size_t t = 0; t < sentence.size(); ++t) {
            put(b, static_cast<int64_t>(t) + 1, word_characters(sentence[t], max_characters));
        }
        put(b, static_cast<int64_t>(sentence.size()) + 1, end);
    }
    return ids_BTC;
}

}  // namespace embed::elmo
