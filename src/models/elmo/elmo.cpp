#include "models/elmo/elmo.h"

#include <stdexcept>

#include "checkpoint/hdf5_weights.h"

namespace embed::elmo {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOptionsFile = "options.json";
constexpr const char* kWeightsFile = "weights.hdf5";

}  // namespace

ElmoImpl::ElmoImpl(const Options& options) : options_(options) {
    char_cnn = register_module("char_cnn", CharacterEncoder(options));
    lstm = register_module("lstm", BiLstm(options));
}

torch::Tensor ElmoImpl::forward(const torch::Tensor& characters_BTC) {
    const int64_t batch = characters_BTC.size(0);
    const int64_t steps = characters_BTC.size(1);
    const int64_t projection = options_.projection_dim;
    const torch::Tensor present_BT = characters_BTC.gt(0).any(-1);
    const torch::Tensor lengths = present_BT.sum(1).cpu();
    const std::vector<int64_t> lengths_B(lengths.data_ptr<int64_t>(),
                                         lengths.data_ptr<int64_t>() + batch);

    const torch::Tensor tokens_BTP =
        char_cnn(characters_BTC.view({batch * steps, -1})).view({batch, steps, -1}) *
        present_BT.unsqueeze(-1);
    // Every layer is written in place: a batch's states are the largest tensor here.
    torch::Tensor layers_LBTD =
        tokens_BTP.new_empty({1 + options_.lstm_layers, batch, steps, 2 * projection});
    layers_LBTD[0].narrow(2, 0, projection).copy_(tokens_BTP);
    layers_LBTD[0].narrow(2, projection, projection).copy_(tokens_BTP);
    lstm(tokens_BTP, lengths_B, layers_LBTD.narrow(0, 1, options_.lstm_layers));
    return layers_LBTD;
}

void ElmoImpl::check_weights(const Options& options, const std::string& options_source,
                             const StateDict& weights) {
    StrictLoader loader(weights);
    CharacterEncoderImpl::expect_weights(options, loader);
    BiLstmImpl::expect_weights(options, loader);
    try {
        loader.check();
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(options_source + " does not describe " + e.what());
    }
}

void ElmoImpl::load_weights(const StateDict& weights) {
    StrictLoader loader(weights);
    CharacterEncoderImpl::expect_weights(options_, loader);
    BiLstmImpl::expect_weights(options_, loader);
    loader.check();
    char_cnn->load_weights(loader);
    lstm->load_weights(loader);
}

std::optional<ElmoFiles> find_elmo_files(const fs::path& path) {
    const bool directory_given = fs::is_directory(path);
    if (!directory_given && path.extension() != ".hdf5" && path.filename() != kOptionsFile) {
        return std::nullopt;
    }
    const fs::path directory = directory_given ? path : path.parent_path();
    const fs::path options = directory / kOptionsFile;
    if (!fs::is_regular_file(options) ||
        !looks_like_elmo_options(json::parse_file(options.string()))) {
        return std::nullopt;
    }
    if (fs::is_regular_file(path) && path.extension() == ".hdf5") {
        return ElmoFiles{options, path};
    }
    if (fs::is_regular_file(directory / kWeightsFile)) {
        return ElmoFiles{options, directory / kWeightsFile};
    }
    std::vector<fs::path> candidates;
    for (const auto& entry : fs::directory_iterator(directory)) {
        if (entry.path().extension() == ".hdf5") {
            candidates.push_back(entry.path());
        }
    }
    if (candidates.size() != 1) {
        return std::nullopt;
    }
    return ElmoFiles{options, candidates.front()};
}

}  // namespace embed::elmo
