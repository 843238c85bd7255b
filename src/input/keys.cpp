#include "input/keys.h"

#include <algorithm>

namespace embed {

std::string dataset_key(const std::string& record_id) {
    std::string key = record_id;
    std::replace(key.begin(), key.end(), '/', '_');
    return key;
}

std::string invalid_key_reason(const std::string& key) {
    if (key.empty()) {
        return "an empty id cannot name a dataset";
    }
    if (key == "." || key == "..") {
        return "'" + key + "' cannot name an HDF5 dataset";
    }
    return {};
}

}  // namespace embed
