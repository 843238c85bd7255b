// Which representation layers to output (--layers), and how.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "encode/encoder.h"

namespace embed {

struct LayerSelection {
    std::vector<int64_t> layers;  ///< representation layers to compute, in output order
    bool sum = false;             ///< write their sum instead of each one

    /// "none" or "sum", as recorded in the output.
    std::string reduction() const { return sum ? "sum" : "none"; }
};

/// Resolves a --layers value for a model whose representations are numbered 0..num_layers
/// (0 = the embedding layer, as fair-esm counts). "" means `model_default` ("" itself meaning
/// the last layer); "all" every layer; "sum" the sum of every layer; otherwise a comma list in
/// which negative numbers count from the end (-1 = num_layers), as esm-extract's --repr_layers
/// does, kept in the order given. Throws BadInput naming the offending value.
LayerSelection resolve_layers(const std::string& spec, int64_t num_layers,
                              const std::string& model_default = "");

/// The batch as the selection wants it written: its layers summed into one when asked.
EncodedBatch combine_layers(EncodedBatch batch, const LayerSelection& selection);

}  // namespace embed
