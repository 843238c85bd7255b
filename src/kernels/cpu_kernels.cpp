#include "kernels/cpu_kernels.h"

#include <c10/util/BFloat16.h>

#include "kernels/vec.h"

namespace embed {

const char* isa_name(Isa isa) {
    switch (isa) {
    case Isa::kPortable:
        return "portable";
    case Isa::kAvx2:
        return "AVX2";
    case Isa::kAvx512:
        return "AVX-512";
    }
    return "?";
}

const std::vector<Isa>& supported_isas() {
    static const std::vector<Isa> isas = [] {
        std::vector<Isa> found;
#ifdef EMBED_HAVE_AVX512_KERNELS
        if (cpu_has_avx512_bf16()) {
            found.push_back(Isa::kAvx512);
        }
#endif
#ifdef EMBED_HAVE_AVX2_KERNELS
        if (cpu_has_avx2_fma()) {
            found.push_back(Isa::kAvx2);
        }
#endif
        found.push_back(Isa::kPortable);
        return found;
    }();
    return isas;
}

namespace kernels {

uint16_t bfloat16_bits(float x) {
    return c10::BFloat16(x).x;
}

#ifdef EMBED_HAVE_AVX2_KERNELS
#define EMBED_AVX2_VARIANT(kernel) &kernel<Isa::kAvx2>
#else
#define EMBED_AVX2_VARIANT(kernel) nullptr
#endif
#ifdef EMBED_HAVE_AVX512_KERNELS
#define EMBED_AVX512_VARIANT(kernel) &kernel<Isa::kAvx512>
#else
#define EMBED_AVX512_VARIANT(kernel) nullptr
#endif

const Variants<RowExponentials> kRowExponentials = {
    &exponentiate_rows<Isa::kPortable>, EMBED_AVX2_VARIANT(exponentiate_rows),
    EMBED_AVX512_VARIANT(exponentiate_rows)};
const Variants<RowExponentialsToBfloat16> kRowExponentialsToBfloat16 = {
    &exponentiate_rows_to_bfloat16<Isa::kPortable>, nullptr,
    EMBED_AVX512_VARIANT(exponentiate_rows_to_bfloat16)};
const Variants<LstmCellRow> kLstmCellRow = {&lstm_cell_row<Isa::kPortable>,
                                            EMBED_AVX2_VARIANT(lstm_cell_row), nullptr};
const Variants<SplitToken> kSplitToken = {&split_token<Isa::kPortable>,
                                          EMBED_AVX2_VARIANT(split_token), nullptr};
const Variants<MultiplyPanel> kMultiplyPanel = {&multiply_panel<Isa::kPortable>,
                                                EMBED_AVX2_VARIANT(multiply_panel), nullptr};

}  // namespace kernels
}  // namespace embed
