#include "encode/layers.h"

#include <algorithm>
#include <stdexcept>

#include "base/errors.h"

namespace embed {

namespace {

std::vector<int64_t> every_layer(int64_t num_layers) {
    std::vector<int64_t> layers;
    for (int64_t i = 0; i <= num_layers; ++i) {
        layers.push_back(i);
    }
    return layers;
}

std::vector<int64_t> listed_layers(const std::string& spec, int64_t num_layers) {
    std::vector<int64_t> layers;
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
                throw BadInput(item);
            }
        } catch (const std::logic_error&) {
            throw BadInput("--layers: '" + item + "' is not a layer number (use " + range +
                           ", 'all', 'sum', or a comma list)");
        }
        if (layer < -(num_layers + 1) || layer > num_layers) {
            throw BadInput("--layers: layer " + item +
                           " does not exist; this model "
                           "has layers " +
                           range);
        }
        const int64_t resolved = layer < 0 ? layer + num_layers + 1 : layer;
        if (std::find(layers.begin(), layers.end(), resolved) != layers.end()) {
            throw BadInput("--layers: layer " + std::to_string(resolved) + " is selected twice");
        }
        layers.push_back(resolved);
    }
    return layers;
}

}  // namespace

LayerSelection resolve_layers(const std::string& spec, int64_t num_layers,
                              const std::string& model_default) {
    const std::string& chosen = spec.empty() ? model_default : spec;
    if (chosen.empty()) {
        return {{num_layers}, false};
    }
    if (chosen == "all") {
        return {every_layer(num_layers), false};
    }
    if (chosen == "sum") {
        return {every_layer(num_layers), true};
    }
    return {listed_layers(chosen, num_layers), false};
}

EncodedBatch combine_layers(EncodedBatch batch, const LayerSelection& selection) {
    if (selection.sum) {
        batch.residues_NBLD = batch.residues_NBLD.sum(0, /*keepdim=*/true);
        if (batch.bos_NBD.defined()) {
            batch.bos_NBD = batch.bos_NBD.sum(0, /*keepdim=*/true);
        }
    }
    return batch;
}

}  // namespace embed
