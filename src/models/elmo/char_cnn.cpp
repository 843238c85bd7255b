#include "models/elmo/char_cnn.h"

namespace embed::elmo {
namespace {

std::string cnn_weight(size_t i) {
    return "CNN/W_cnn_" + std::to_string(i);
}
std::string cnn_bias(size_t i) {
    return "CNN/b_cnn_" + std::to_string(i);
}
std::string highway(int64_t k, const char* tensor) {
    return "CNN_high_" + std::to_string(k) + "/" + tensor;
}

}  // namespace

CharacterEncoderImpl::CharacterEncoderImpl(const Options& options) : options_(options) {
    char_embed = register_buffer(
        "char_embed", torch::zeros({options.characters, options.character_embedding_dim}));
    convolutions = register_module("convolutions", torch::nn::ModuleList());
    for (const auto& [width, count] : options.filters) {
        convolutions->push_back(torch::nn::Conv1d(
            torch::nn::Conv1dOptions(options.character_embedding_dim, count, width)));
    }
    const int64_t filters = options.total_filters();
    highway_transforms = register_module("highway_transforms", torch::nn::ModuleList());
    highway_carries = register_module("highway_carries", torch::nn::ModuleList());
    for (int64_t k = 0; k < options.highway_layers; ++k) {
        highway_transforms->push_back(Linear(filters, filters));
        highway_carries->push_back(Linear(filters, filters));
    }
    projection = register_module("projection", Linear(filters, options.projection_dim));
}

torch::Tensor CharacterEncoderImpl::forward(const torch::Tensor& ids_NC) {
    const auto [distinct_UC, which_N, counts] =
        torch::unique_dim(ids_NC, 0, /*sorted=*/false, /*return_inverse=*/true);
    return embed_distinct(distinct_UC).index_select(0, which_N);
}

torch::Tensor CharacterEncoderImpl::embed_distinct(const torch::Tensor& ids_UC) {
    // (U, dim, characters): convolutions run along the characters of each token.
    const torch::Tensor embedded_UDC =
        torch::embedding(char_embed, ids_UC).to(projection->weight.dtype()).transpose(1, 2);
    std::vector<torch::Tensor> pooled;
    for (const auto& convolution : *convolutions) {
        // Max over positions first, then the activation, as bilm-tf does.
        const torch::Tensor best_UF =
            std::get<0>(convolution->as<torch::nn::Conv1d>()->forward(embedded_UDC).max(-1));
        pooled.push_back(options_.activation == Options::Activation::relu ? torch::relu(best_UF)
                                                                          : torch::tanh(best_UF));
    }
    torch::Tensor x_UF = torch::cat(pooled, -1);
    for (size_t k = 0; k < highway_transforms->size(); ++k) {
        // bilm-tf's highway: a gate t mixes a ReLU transform with the unchanged input.
        const torch::Tensor t = torch::sigmoid(highway_carries[k]->as<Linear>()->forward(x_UF));
        const torch::Tensor transformed =
            torch::relu(highway_transforms[k]->as<Linear>()->forward(x_UF));
        x_UF = t * transformed + (1 - t) * x_UF;
    }
    return projection(x_UF);
}

void CharacterEncoderImpl::expect_weights(const Options& options, StrictLoader& loader) {
    const int64_t dim = options.character_embedding_dim;
    // bilm-tf stores no row for id 0, which AllenNLP prepends as zeros.
    loader.expect("char_embed", {options.characters - 1, dim});
    for (size_t i = 0; i < options.filters.size(); ++i) {
        const auto [width, count] = options.filters[i];
        loader.expect(cnn_weight(i), {1, width, dim, count});
        loader.expect(cnn_bias(i), {count});
    }
    const int64_t filters = options.total_filters();
    for (int64_t k = 0; k < options.highway_layers; ++k) {
        loader.expect(highway(k, "W_transform"), {filters, filters});
        loader.expect(highway(k, "b_transform"), {filters});
        loader.expect(highway(k, "W_carry"), {filters, filters});
        loader.expect(highway(k, "b_carry"), {filters});
    }
    loader.expect("CNN_proj/W_proj", {filters, options.projection_dim});
    loader.expect("CNN_proj/b_proj", {options.projection_dim});
}

void CharacterEncoderImpl::load_weights(const StrictLoader& loader) {
    torch::NoGradGuard no_grad;
    char_embed.narrow(0, 1, options_.characters - 1).copy_(loader.read("char_embed"));
    for (size_t i = 0; i < options_.filters.size(); ++i) {
        auto* convolution = convolutions[i]->as<torch::nn::Conv1d>();
        // TensorFlow (1, width, in, out) -> LibTorch (out, in, width)
        convolution->weight.copy_(loader.read(cnn_weight(i)).squeeze(0).permute({2, 1, 0}));
        convolution->bias.copy_(loader.read(cnn_bias(i)));
    }
    // TensorFlow multiplies x @ W; LibTorch's Linear holds W transposed.
    for (size_t k = 0; k < highway_transforms->size(); ++k) {
        auto* transform = highway_transforms[k]->as<Linear>();
        auto* carry = highway_carries[k]->as<Linear>();
        const auto layer = static_cast<int64_t>(k);
        transform->weight.copy_(loader.read(highway(layer, "W_transform")).t());
        transform->bias.copy_(loader.read(highway(layer, "b_transform")));
        carry->weight.copy_(loader.read(highway(layer, "W_carry")).t());
        carry->bias.copy_(loader.read(highway(layer, "b_carry")));
    }
    projection->weight.copy_(loader.read("CNN_proj/W_proj").t());
    projection->bias.copy_(loader.read("CNN_proj/b_proj"));
}

}  // namespace embed::elmo
