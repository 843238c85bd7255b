// The model families this build reads, listed explicitly: a new family is a folder beside
// esm/ and elmo/ that exposes its ModelFamily, and one line in families.cpp.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "encode/encoder.h"

namespace embed {

/// The family whose checkpoint `checkpoint` is (a file or directory as users download it).
/// Throws std::invalid_argument when the path is missing or no family recognises it.
const ModelFamily& find_model_family(const std::filesystem::path& checkpoint);

/// The family that loads models of a card's family; throws std::logic_error if none does.
const ModelFamily& family_of_card(const std::string& card_family);

/// find_model_family(checkpoint).load(checkpoint, options)
std::unique_ptr<Encoder> load_encoder(const std::filesystem::path& checkpoint,
                                      const LoadOptions& options);

/// Every family this build reads, in the order checkpoints are tried.
const std::vector<ModelFamily>& model_families();

}  // namespace embed
