// torch.save archives as fair-esm .pt and Hugging Face pytorch_model.bin files arrive: the zip
// directory, the pickle inside it, the storages it names, and the tensors built from them.
#include "checkpoint/torch_file.h"
#include "models/esm/config.h"

#include "fuzz_support.h"

namespace embed {
namespace {

void read_tensors(const TorchFile& file, const pickle::Value& dict) {
    const StateDict state = file.state_dict(dict);
    for (const auto& [name, tensor] : state.tensors()) {
        if (!fuzz::readable(tensor.shape(), c10::elementSize(tensor.dtype()))) {
            continue;
        }
        const torch::Tensor t = tensor.read();
        fuzz::require(
            t.sizes().vec() == tensor.shape() && t.dtype() == tensor.dtype() && t.is_contiguous(),
            "tensor read with another shape or dtype than announced");
    }
}

void read(const std::string& path) {
    TorchFile::recognizes(path);
    const TorchFile file(path);
    // A fair-esm checkpoint (configuration and "model"), or a bare state dict (pytorch_model.bin).
    const pickle::Value* model = file.root().member("model");
    if (model != nullptr) {
        fuzz::expect_clean_errors(path, [&] { esm::config_from_fair_esm(file.root(), path); });
    }
    read_tensors(file, model != nullptr ? *model : file.root());
}

}  // namespace
}  // namespace embed

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static embed::fuzz::InputFile input;
    const std::string& path = input.write(data, size);
    embed::fuzz::expect_clean_errors(path, [&] { embed::read(path); });
    return 0;
}
