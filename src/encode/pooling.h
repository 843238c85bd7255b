// Stage 4: per-protein vectors from per-residue states.
#pragma once

#include <string>

#include <torch/torch.h>

#include "base/names.h"
#include "encode/encoder.h"

namespace embed {

enum class Pooling {
    mean,  ///< mean over the protein's residues (no special tokens), as esm-extract's "mean"
    bos,   ///< the BOS (<cls>) token's state, as esm-extract's "bos"
};

/// --pooling's values, and the `pooling` attribute's.
inline constexpr NameTable<Pooling, 2> kPoolingNames{
    {{"mean", Pooling::mean}, {"bos", Pooling::bos}}};

/// A name of kPoolingNames; throws BadInput otherwise.
Pooling parse_pooling(const std::string& name);
std::string to_string(Pooling pooling);

/// Per-protein vectors (layers, D) of protein `b` of `batch`, which has `length` residues.
torch::Tensor pool(const EncodedBatch& batch, int64_t b, int64_t length, Pooling pooling);

}  // namespace embed
