// The CPU kernels in plain C++, compiled for the build's own target: for CPUs without AVX2, and
// for the last columns the vector kernels leave.
#include "kernels/cpu_kernels_impl.h"

namespace embed::kernels {

template void exponentiate_rows<Isa::kPortable>(const float*, int64_t, int64_t, float*, float*);
template void exponentiate_rows_to_bfloat16<Isa::kPortable>(const float*, int64_t, int64_t,
                                                             c10::BFloat16*, float*);
template void lstm_cells_from<Isa::kPortable>(const float*, float*, float*, int64_t, int64_t,
                                              float);
template void lstm_cell_row<Isa::kPortable>(const float*, float*, float*, int64_t, float);
template void split_token<Isa::kPortable>(const float*, int64_t, int64_t, float, const float*,
                                          const float*, int64_t, float*, float*, float*);
template void multiply_panel<Isa::kPortable>(const float*, int64_t, int64_t, const float*, int64_t,
                                             float*, bool);

}  // namespace embed::kernels
