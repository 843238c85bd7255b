// The residues a model family can read; input is checked against it before the model loads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace embed {

struct Alphabet {
    std::string name;         ///< e.g. "ESM", as in "not in the ESM alphabet"
    std::string description;  ///< the accepted residues, for error messages
    /// Index of the first residue the model cannot read, or npos when all are valid.
    /// Residues arrive upper-cased.
    std::function<size_t(std::string_view)> find_invalid;
};

}  // namespace embed
