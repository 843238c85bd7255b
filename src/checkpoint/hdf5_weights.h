// Weights stored as HDF5 datasets (TensorFlow/Keras exports such as ELMo's weights.hdf5).
#pragma once

#include <filesystem>

#include "checkpoint/state_dict.h"

namespace embed {

/// Every floating-point dataset of the file, named by its path without the leading '/'
/// ("CNN/W_cnn_0"); read on demand. Throws std::runtime_error naming the file.
StateDict read_hdf5_weights(const std::filesystem::path& path);

}  // namespace embed
