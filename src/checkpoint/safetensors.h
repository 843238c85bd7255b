// Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header with each
// tensor's dtype, shape and byte range, then the raw data.
#pragma once

#include <filesystem>

#include "checkpoint/state_dict.h"

namespace embed {

/// Tensors of one .safetensors file; throws std::runtime_error naming the file and tensor when
/// the header is malformed or a byte range is out of bounds or of the wrong size.
StateDict read_safetensors(const std::filesystem::path& path);

}  // namespace embed
