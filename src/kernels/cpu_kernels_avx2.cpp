// The CPU kernels compiled for AVX2 and FMA (this source only: src/kernels/CMakeLists.txt).
#include "kernels/cpu_kernels_impl.h"

namespace embed::kernels {

template void exponentiate_rows<Isa::kAvx2>(const float*, int64_t, int64_t, float*, float*);
template void lstm_cell_row<Isa::kAvx2>(const float*, float*, float*, int64_t, float);
template void split_token<Isa::kAvx2>(const float*, int64_t, int64_t, float, const float*,
                                      const float*, int64_t, float*, float*, float*);
template void multiply_panel<Isa::kAvx2>(const float*, int64_t, int64_t, const float*, int64_t,
                                         float*, bool);

}  // namespace embed::kernels
