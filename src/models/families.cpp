#include "models/families.h"

#include <algorithm>
#include <stdexcept>

#include "base/errors.h"
#include "models/elmo/family.h"
#include "models/esm/family.h"

namespace embed {
const std::vector<ModelFamily>& model_families() {
    static const std::vector<ModelFamily> families = {esm::model_family(), elmo::model_family()};
    return families;
}

const ModelFamily& find_model_family(const std::filesystem::path& checkpoint) {
    if (!std::filesystem::exists(checkpoint)) {
        throw BadInput(checkpoint.string() + ": model checkpoint not found");
    }
    std::string formats;
    for (const ModelFamily& family : model_families()) {
        if (family.recognizes(checkpoint)) {
            return family;
        }
        formats += "\n  " + family.name + ": " + family.formats;
    }
    throw BadInput(checkpoint.string() +
                   ": not a checkpoint of any supported model; expected one of:" + formats);
}

const ModelFamily& family_of_card(const std::string& card_family) {
    for (const ModelFamily& family : model_families()) {
        if (std::find(family.card_families.begin(), family.card_families.end(), card_family) !=
            family.card_families.end()) {
            return family;
        }
    }
    throw std::logic_error("no model family loads " + card_family + " models");
}

std::unique_ptr<Encoder> load_encoder(const std::filesystem::path& checkpoint,
                                      const LoadOptions& options) {
    return find_model_family(checkpoint).load(checkpoint, options);
}

}  // namespace embed
