// ELMo reads words as bytes: each token becomes max_characters_per_token character ids,
// [begin-of-word, its UTF-8 bytes, end-of-word, padding...], every id plus one so that 0 marks
// the positions of a batch where no token is (AllenNLP's ELMoCharacterMapper).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <torch/torch.h>

namespace embed::elmo {

/// Sentence-boundary tokens the model saw around every training sentence.
enum class Boundary { begin_of_sentence, end_of_sentence };

/// Character ids of one word, truncated to max_characters - 2 bytes.
std::vector<int64_t> word_characters(std::string_view word, int64_t max_characters);
std::vector<int64_t> boundary_characters(Boundary boundary, int64_t max_characters);

/// Character ids (B, longest + 2, max_characters) of tokenised sentences, each wrapped in the
/// sentence boundaries; positions after a sentence's end hold zeros.
torch::Tensor sentence_characters(const std::vector<std::vector<std::string_view>>& sentences_B,
                                  int64_t max_characters);

}  // namespace embed::elmo
