// Files of embeddings as `embed merge` and `--resume` read them (a shard, a part, an output):
// the root's run attributes, every protein checked against them, then a merge into a scratch
// file, which copies every dataset (its chunks and filters included). libhdf5 parses the bytes
// in this process, as embed does; see the README's promises for what it does with a file
// libhdf5 itself cannot read.
#include <cstdio>

#include "output/merge.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static embed::fuzz::InputFile input;
    static const std::string merged = input.path() + ".merged";
    embed::fuzz::quiet_logs();
    const std::string& path = input.write(data, size);
    embed::fuzz::expect_clean_errors(path, [&] {
        const embed::RunAttributes settings = embed::read_run_attributes(path);
        const std::vector<uint64_t> indices = embed::stored_indices(path);
        // Proteins left out for their length keep their positions (--long skip or error).
        const bool sparse = settings.long_policy == "skip" || settings.long_policy == "error";
        for (const uint64_t index : indices) {
            embed::fuzz::require(sparse || index < static_cast<uint64_t>(settings.input_proteins),
                                 "a stored index outside the input's proteins");
        }
        embed::MergeOptions options;
        options.require_complete = false;
        options.expected = &settings;
        const size_t written = embed::merge_files({path}, merged, settings, options);
        embed::fuzz::require(written == indices.size(),
                             "merged another number of proteins than stored_indices counts");
    });
    std::remove(merged.c_str());
    return 0;
}
