#include "embed/layers.h"

#include <algorithm>
#include <stdexcept>

namespace embed {

std::vector<int64_t> resolve_layers(const std::string& spec, int64_t num_layers) {
    if (spec.empty()) {
        return {num_layers};
    }
    std::vector<int64_t> layers;
    if (spec == "all") {
        for (int64_t i = 0; i <= num_layers; ++i) {
            layers.push_back(i);
        }
        return layers;
    }
    for (size_t start = 0; start <= spec.size();) {
        const size_t comma = std::min(spec.find(',', start), spec.size());
        const std::string item = spec.substr(start, comma - start);
        start = comma + 1;
        const std::string range =
            "-" + std::to_string(num_layers + 1) + ".." + std::to_string(num_layers);
        int64_t layer = 0;
        try {
            size_t used = 0;
            layer = std::stoll(item, &used);
            if (used != item.size()) {
                throw std::invalid_argument(item);
            }
        } catch (const std::logic_error&) {
            throw std::invalid_argument("--layers: '" + item + "' is not a layer number (use " +
                                        range + ", 'all', or a comma list)");
        }
        if (layer < -(num_layers + 1) || layer > num_layers) {
            throw std::invalid_argument("--layers: layer " + item +
                                        " does not exist; this model "
                                        "has layers " +
                                        range);
        }
        const int64_t resolved = layer < 0 ? layer + num_layers + 1 : layer;
        if (std::find(layers.begin(), layers.end(), resolved) != layers.end()) {
            throw std::invalid_argument("--layers: layer " + std::to_string(resolved) +
                                        " is selected twice");
        }
        layers.push_back(resolved);
    }
    if (layers.empty()) {
        throw std::invalid_argument("--layers: no layer given");
    }
    return layers;
}

}  // namespace embed
