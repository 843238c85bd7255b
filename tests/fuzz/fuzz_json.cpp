// The JSON reader, and the two configurations read with it: a Hugging Face ESM config.json and
// a SeqVec (bilm-tf) options.json.
#include <string_view>

#include "base/json.h"
#include "models/elmo/options.h"
#include "models/esm/config.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    nlohmann::json value;
    try {
        value = embed::json::parse(text);
    } catch (const std::runtime_error&) {
        return 0;
    }
    embed::fuzz::expect_clean_errors("hf/config.json",
                                     [&] { embed::esm::config_from_hugging_face(value, "hf"); });
    embed::fuzz::expect_clean_errors("options.json", [&] {
        if (embed::elmo::looks_like_elmo_options(value)) {
            embed::elmo::parse_options(value, "options.json");
        }
    });
    return 0;
}
