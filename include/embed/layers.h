// Which representation layers to output (--layers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace embed {

/// Resolves a --layers value for a model whose representations are numbered 0..num_layers
/// (0 = the embedding layer, as fair-esm counts). "" means the last layer; "all" every layer;
/// otherwise a comma list in which negative numbers count from the end (-1 = num_layers), as
/// esm-extract's --repr_layers does. The result keeps the order given. Throws
/// std::invalid_argument naming the offending value.
std::vector<int64_t> resolve_layers(const std::string& spec, int64_t num_layers);

}  // namespace embed
