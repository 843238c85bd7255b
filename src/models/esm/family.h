// The esm family as models/families.cpp lists it: ESM-2, ESM-1b and ESM-1v: fair-esm .pt files and
// Hugging Face directories.
#pragma once

#include "encode/encoder.h"

namespace embed::esm {

ModelFamily model_family();

}  // namespace embed::esm
