// HDF5 weights files (SeqVec's weights.hdf5): the group walk and the float datasets. The bytes
// are parsed by libhdf5, which is not instrumented, in a child process (libhdf5 crashes on some
// damaged files), whose coverage the fuzzer does not see; this checks what embed does with them.
#include "checkpoint/hdf5_weights.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static embed::fuzz::InputFile input;
    const std::string& path = input.write(data, size);
    embed::fuzz::expect_clean_errors(path, [&] {
        const embed::StateDict state = embed::read_hdf5_weights(path);
        for (const auto& [name, tensor] : state.tensors()) {
            if (!embed::fuzz::readable(tensor.shape(), sizeof(float))) {
                continue;
            }
            const torch::Tensor t = tensor.read();
            embed::fuzz::require(t.sizes().vec() == tensor.shape(),
                                 "tensor read with another shape than announced");
        }
    });
    return 0;
}
