// The elmo family as models/families.cpp lists it: SeqVec: AllenNLP ELMo directories (options.json,
// weights.hdf5).
#pragma once

#include "encode/encoder.h"

namespace embed::elmo {

ModelFamily model_family();

}  // namespace embed::elmo
