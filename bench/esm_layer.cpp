// One ESM-2 transformer layer, stage by stage, on a batch of equal-length proteins: where a
// layer's time goes and how fast each matrix product runs against the GEMM peak. Random weights
// (speed does not depend on them).
//
//     embed_esm_layer_bench [THREADS [WIDTH [PROTEINS [TOKENS]]]]
//         ->  "fc1     291.6 ms  25.8%  184.1 GFLOPS" (stage, time, share of the layer, rate)
//
// Default: 4 proteins of 1024 tokens at ESM-2 650M's width, 1280; 8M is 320, 35M 480, 150M 640.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "base/cpus.h"
#include "encode/runtime.h"
#include "kernels/cpu_attention.h"
#include "models/esm/config.h"
#include "models/esm/transformer.h"

#include "timing.h"

namespace {

struct Stage {
    std::string name;
    double flops;  // 0: not a matrix product
    std::function<void()> work;
};

}  // namespace

int main(int argc, char** argv) {
    embed::keep_freed_memory_for_reuse();
    embed::set_cpu_threads(argc > 1 ? std::stoi(argv[1]) : embed::available_cpus());
    torch::NoGradGuard no_grad;
    embed::esm::Config config;
    config.embed_dim = argc > 2 ? std::stoll(argv[2]) : 1280;
    config.ffn_dim = 4 * config.embed_dim;
    // ESM-2: 20 heads up to 650M (width 1280), 40 for 3B and 15B.
    config.attention_heads = config.embed_dim <= 1280 ? 20 : 40;
    config.num_layers = 1;
    const int64_t proteins = argc > 3 ? std::stoll(argv[3]) : 4;
    const int64_t tokens = argc > 4 ? std::stoll(argv[4]) : 1024;
    const int64_t width = config.embed_dim;
    const int64_t rows = proteins * tokens;
    const int64_t head_dim = width / config.attention_heads;
    const auto query_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));

    embed::esm::TransformerLayer layer(config);
    for (torch::Tensor& parameter : layer->parameters()) {
        parameter.normal_(0, 0.02);
    }
    layer->self_attn->rot_emb->inv_freq.copy_(
        1.0 / torch::pow(10000.0, torch::arange(0, head_dim, 2).to(torch::kFloat32) / head_dim));
    layer->prepare(torch::kFloat32);
    layer->eval();
    auto& attention = *layer->self_attn;

    // The CPU's layout: the proteins' tokens one after another.
    const torch::Tensor x_1ND = torch::randn({1, rows, width});
    const embed::esm::TokenLayout layout{std::vector<int64_t>(proteins, tokens), true, {}};
    const embed::esm::Rotation rotation = attention.rot_emb->rotation(tokens);
    const torch::Tensor x_ND = x_1ND.view({rows, width});
    const torch::Tensor qkv_weight =
        torch::cat({attention.q_proj->weight, attention.k_proj->weight, attention.v_proj->weight});
    const torch::Tensor qkv_bias =
        torch::cat({attention.q_proj->bias, attention.k_proj->bias, attention.v_proj->bias});
    const torch::Tensor qkv_NE = embed::linear(x_ND, qkv_weight, qkv_bias);
    const torch::Tensor context_ND =
        embed::esm::attend_on_cpu(qkv_NE, config.attention_heads, query_scale, rotation.cos_Td,
                                  rotation.sin_Td, layout.tokens_B);
    const torch::Tensor hidden_NF = layer->fc1(x_ND);

    const double projection = 2.0 * rows * width * width;
    const double scores = 2.0 * 2 * proteins * tokens * tokens * width;
    const std::vector<Stage> stages = {
        {"layer norm", 0, [&] { layer->self_attn_layer_norm(x_1ND); }},
        {"q, k, v", 3 * projection, [&] { embed::linear(x_ND, qkv_weight, qkv_bias); }},
        {"attention", scores,
         [&] {
             embed::esm::attend_on_cpu(qkv_NE, config.attention_heads, query_scale, rotation.cos_Td,
                                       rotation.sin_Td, layout.tokens_B);
         }},
        {"out_proj", projection, [&] { attention.out_proj(context_ND); }},
        {"residual add", 0, [&] { (void)(x_ND + context_ND); }},
        {"fc1", 4 * projection, [&] { layer->fc1(x_ND); }},
        {"gelu", 0, [&] { torch::gelu(hidden_NF); }},
        {"fc2", 4 * projection, [&] { layer->fc2(hidden_NF); }},
    };
    const double layer_seconds = embed::bench::seconds_per_call(
        [&] { layer->forward(x_1ND, layout, &rotation, false); }, 1.0, 3);
    std::printf("%ld proteins x %ld tokens, width %ld, %ld threads\n", static_cast<long>(proteins),
                static_cast<long>(tokens), static_cast<long>(width),
                static_cast<long>(at::get_num_threads()));
    double flops = 0;
    double total = 0;
    for (const Stage& stage : stages) {
        const double seconds = embed::bench::seconds_per_call(stage.work, 1.0, 3);
        total += seconds;
        flops += stage.flops;
        std::printf("%-14s %8.1f ms %6.1f%%", stage.name.c_str(), 1e3 * seconds,
                    100 * seconds / layer_seconds);
        if (stage.flops > 0) {
            std::printf(" %7.1f GFLOPS", stage.flops / seconds / 1e9);
        }
        std::printf("\n");
    }
    std::printf("%-14s %8.1f ms (stages %.1f ms) %7.1f GFLOPS\n", "whole layer",
                1e3 * layer_seconds, 1e3 * total, flops / layer_seconds / 1e9);
    return 0;
}
