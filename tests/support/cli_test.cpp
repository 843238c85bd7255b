#include "cli_test.h"

namespace embed::testing {

namespace fs = std::filesystem;

void expect_same_output(const fs::path& a, const fs::path& b) {
    const h5::Handle fa = h5::open_file(a.string());
    const h5::Handle fb = h5::open_file(b.string());
    for (const char* group : {"per_residue", "per_protein"}) {
        const auto keys = h5::member_names(h5::open_group(fa.id(), group).id());
        ASSERT_EQ(keys, h5::member_names(h5::open_group(fb.id(), group).id())) << group;
        for (const std::string& key : keys) {
            const std::string name = std::string(group) + "/" + key;
            ASSERT_LT(max_abs_diff(read_tensor(fa.id(), name), read_tensor(fb.id(), name)),
                      kBatchingTolerance)
                << name;
        }
    }
}

}  // namespace embed::testing
