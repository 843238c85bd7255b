#include "encode/pooling.h"

namespace embed {

Pooling parse_pooling(const std::string& name) {
    return parse_named(kPoolingNames, "--pooling", name);
}

std::string to_string(Pooling pooling) {
    return name_of(kPoolingNames, pooling);
}

torch::Tensor pool(const EncodedBatch& batch, int64_t b, int64_t length, Pooling pooling) {
    switch (pooling) {
        case Pooling::mean: return batch.residues_NBLD.select(1, b).narrow(1, 0, length).mean(1);
        case Pooling::bos:
            if (!batch.bos_NBD.defined()) {
                throw std::logic_error("BOS pooling without BOS states from the encoder");
            }
            return batch.bos_NBD.select(1, b);
    }
    throw std::logic_error("unknown pooling");
}

}  // namespace embed
