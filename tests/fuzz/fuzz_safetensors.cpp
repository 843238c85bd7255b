// Hugging Face .safetensors files: the header length, the JSON header, the byte ranges.
#include "checkpoint/safetensors.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static embed::fuzz::InputFile input;
    const std::string& path = input.write(data, size);
    embed::fuzz::expect_clean_errors(path, [&] {
        const embed::StateDict state = embed::read_safetensors(path);
        for (const auto& [name, tensor] : state.tensors()) {
            // Byte ranges are checked against the file, so every tensor is small enough to read.
            const torch::Tensor t = tensor.read();
            embed::fuzz::require(t.sizes().vec() == tensor.shape() && t.dtype() == tensor.dtype(),
                                 "tensor read with another shape or dtype than announced");
        }
    });
    return 0;
}
