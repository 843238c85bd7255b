// Output keys: the name under which a record's embeddings are stored. The rule belongs to the
// input, which checks every record's key (and repeats of it) before the model loads; the writers
// use the keys it made.
#pragma once

#include <string>

namespace embed {

/// The dataset name for a record id: HDF5 separates paths with '/', so '/' becomes '_'.
std::string dataset_key(const std::string& record_id);

/// Why `key` cannot name a dataset, or an empty string when it can.
std::string invalid_key_reason(const std::string& key);

}  // namespace embed
