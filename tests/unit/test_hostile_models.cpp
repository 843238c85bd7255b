// Issue 16, item 13: crafted model files and running out of memory. A pickle of empty lists, an
// options.json that disagrees with its weights, and a protein too long for the memory given
// must each end in one clear error, not gigabytes of allocations or an allocator's trace.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <sys/resource.h>

#include "base/hdf5.h"
#include "checkpoint/pickle.h"
#include "encode/encoder.h"
#include "encode/out_of_memory.h"
#include "input/long_proteins.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::data_file;
using testing::error_of;
using testing::max_abs_diff;
using testing::read_tensor;
using testing::run_embed_with_environment;
using testing::TempDir;
using testing::write_file;

// Address space a child may take beyond what it holds when the limit is set.
constexpr rlim_t kHeadroomBytes = rlim_t{256} << 20;

// Limits this process's address space to what it has mapped now plus `headroom`.
void limit_address_space(rlim_t headroom) {
    std::ifstream status("/proc/self/status");
    std::string line;
    rlim_t mapped = 0;
    while (std::getline(status, line)) {
        if (line.rfind("VmSize:", 0) == 0) {
            mapped = std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;  // kB
        }
    }
    const rlimit limit{mapped + headroom, mapped + headroom};
    if (mapped == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) {
        std::cerr << "cannot limit the address space\n";
        std::_Exit(2);
    }
}

// Lines of `text` that are not empty.
std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

// 10 MB of EMPTY_LIST opcodes took 2.7 GB before they were refused: only copies counted
// against the budget, not the values and containers the stream made. In a child given 256 MB
// more address space than it holds, the stream is now refused, naming the file and the place.
TEST(HostileModels, APickleOfEmptyListsIsRefusedWithinItsBudget) {
    SKIP_UNDER_ASAN_FOR_ADDRESS_LIMITS();
    ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
    const std::string stream = "\x80\x02" + std::string(size_t{10} << 20, ']') + ".";
    EXPECT_EXIT(
        {
            limit_address_space(kHeadroomBytes);
            pickle::Document doc;
            const std::string message =
                error_of([&] { pickle::unpickle(stream, pickle::Hooks{}, "lists.pkl", doc); });
            std::cerr << message << "\n";
            std::_Exit(contains(message, "makes values beyond") ? 0 : 1);
        },
        ::testing::ExitedWithCode(0),
        "lists.pkl: pickle error at byte [0-9]+: the stream makes values beyond [0-9]+ bytes");
}

// The budget counts what is made, so a stream of few containers and long strings (as a
// checkpoint with a vocabulary has) reads.
TEST(HostileModels, APickleOfLongStringsStillReads) {
    const std::string text(size_t{4} << 20, 'x');
    const std::string length = {0, 0, 0x40, 0};  // 2^22, little-endian
    std::string stream = "\x80\x02(";
    for (int i = 0; i < 4; ++i) {
        stream += "X" + length + text;
    }
    stream += "l.";
    pickle::Document doc;
    pickle::unpickle(stream, pickle::Hooks{}, "strings.pkl", doc);
    EXPECT_EQ(doc.root.as_list().items.size(), 4u);
}

// A SeqVec options.json within every plausibility limit (LSTM cells and projections 65,536
// wide), beside the tiny SeqVec's weights: the model it describes takes terabytes. It was made
// before its shapes were compared with the weights', and died in LibTorch's allocator with a
// trace; the shapes are now compared first, and the error names both files, the tensors and
// both shapes. A 4 GB address space shows nothing of the options' sizes is allocated.
TEST(HostileModels, SeqVecOptionsThatDisagreeWithTheWeightsAreRefusedBeforeAnyAllocation) {
    SKIP_UNDER_ASAN_FOR_ADDRESS_LIMITS();
    const TempDir dir;
    fs::copy_file(data_file("seqvec_tiny/weights.hdf5"), dir / "weights.hdf5");
    write_file(dir / "options.json",
               R"({"lstm": {"use_skip_connections": true, "projection_dim": 65536, )"
               R"("cell_clip": 3, "proj_clip": 3, "dim": 65536, "n_layers": 2}, )"
               R"("char_cnn": {"activation": "relu", "filters": [[1, 4], [2, 4], [3, 8]], )"
               R"("n_highway": 2, "embedding": {"dim": 4}, "n_characters": 262, )"
               R"("max_characters_per_token": 50}})");
    const auto result = run_embed_with_environment(
        "ulimit -v 4000000;", data_file("seqvec_tiny/input.fasta").string() + " -o " +
                                  (dir / "out.h5").string() + " -m " + dir.path().string());
    EXPECT_EQ(result.status, 1) << result.output;
    const std::string& out = result.output;
    EXPECT_TRUE(contains(out, (dir / "options.json").string() + " does not describe " +
                                  (dir / "weights.hdf5").string()))
        << out;
    EXPECT_TRUE(contains(out,
                         "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0: checkpoint has "
                         "[16, 64], model expects [131072, 262144]"))
        << out;
    EXPECT_TRUE(contains(out,
                         "CNN_proj/W_proj: checkpoint has [16, 8], model expects "
                         "[16, 65536]"))
        << out;
    EXPECT_FALSE(contains(out, "DefaultCPUAllocator")) << out;
    EXPECT_FALSE(contains(out, "frame #")) << out;
}

// An allocation LibTorch's CPU allocator refuses, and std::bad_alloc, become one line saying
// what was being done, how much did not fit and what to change; other errors pass unchanged.
TEST(HostileModels, AllocationFailuresBecomeOneLine) {
    if (EMBED_UNDER_ASAN) {
        GTEST_SKIP() << "AddressSanitizer ends the process at an allocation beyond its maximum "
                        "instead of failing it";
    }
    const auto rethrown = [](const std::function<void()>& fail) {
        return error_of([&] {
            try {
                fail();
            } catch (...) {
                rethrow_out_of_memory("loading model.pt", "use more memory");
            }
        });
    };
    // 2^50 bytes: more than any machine's memory, refused by malloc itself.
    const std::string torch_message =
        rethrown([] { (void)torch::empty({int64_t{1} << 50}, torch::kUInt8); });
    EXPECT_EQ(torch_message,
              "out of memory loading model.pt: an allocation of 1.1 PB did not fit; use more "
              "memory");
    EXPECT_EQ(rethrown([] { throw std::bad_alloc(); }),
              "out of memory loading model.pt: an allocation did not fit; use more memory");
    EXPECT_EQ(rethrown([] { throw std::runtime_error("model.pt: damaged"); }), "model.pt: damaged");
    EXPECT_THROW(
        {
            try {
                throw std::bad_alloc();
            } catch (...) {
                rethrow_out_of_memory("x", "y");
            }
        },
        OutOfMemory);
}

// A protein too long for the memory the process may use: LibTorch's allocator error and its
// 25-frame trace were all a user saw. Now one line names the protein, the size that did not fit
// and the options that need less memory, and the exit status is 1.
TEST(HostileModels, AProteinTooLongForTheMemoryIsOneLineNamingIt) {
    SKIP_UNDER_ASAN_FOR_ADDRESS_LIMITS();
    const TempDir dir;
    std::string protein;
    for (int i = 0; i < 20000; ++i) {
        protein += "ACDEFGHIKLMNPQRSTVWY"[(i * 7 + i / 3) % 20];
    }
    write_file(dir / "long.fasta", ">long_one\n" + protein + "\n");
    const auto result = run_embed_with_environment(
        "ulimit -v 3000000;", (dir / "long.fasta").string() + " -o " + (dir / "out.h5").string() +
                                  " -m " + data_file("esm2_tiny/esm2_tiny.pt").string() +
                                  " --threads 1 --max-length 50000 --contacts");
    EXPECT_EQ(result.status, 1) << result.output;
    const std::string& out = result.output;
    EXPECT_TRUE(contains(out,
                         "out of memory embedding protein 'long_one' of 20000 residues: an "
                         "allocation of "))
        << out;
    EXPECT_TRUE(contains(out,
                         "did not fit; use a --max-length below 20000 (now 50000), "
                         "--no-per-residue, no --contacts, or more memory"))
        << out;
    EXPECT_FALSE(contains(out, "DefaultCPUAllocator")) << out;
    EXPECT_FALSE(contains(out, "frame #")) << out;
    size_t error_lines = 0;
    for (const std::string& line : lines_of(out)) {
        error_lines += contains(line, "[error]") ? 1 : 0;
    }
    EXPECT_EQ(error_lines, 1u) << out;
}

// The contacts of a protein read in windows are summed in one L x L tensor and divided in place
// by how many windows hold each pair: these blocks must give every pair its count.
TEST(HostileModels, PairsInSeveralWindowsCountTheWindowsHoldingBothResidues) {
    for (const auto& [length, limit] : {std::pair<int64_t, int64_t>{300, 100},
                                        {301, 100},
                                        {1000, 7},
                                        {10, 3},
                                        {50, 50},
                                        {51, 50}}) {
        SCOPED_TRACE(std::to_string(length) + " residues, windows of " + std::to_string(limit));
        const std::vector<Window> windows = windows_of(length, limit);
        torch::Tensor expected = torch::zeros({length, length}, torch::kInt64);
        for (const Window& w : windows) {
            expected.narrow(0, w.start, w.length).narrow(1, w.start, w.length) += 1;
        }
        torch::Tensor counted = torch::ones({length, length}, torch::kInt64);
        counted.masked_fill_(expected.eq(0), 0);
        torch::Tensor covered = torch::zeros({length, length}, torch::kInt64);
        for (const PairBlock& b : pairs_in_several_windows(length, windows)) {
            counted.narrow(0, b.row, b.rows).narrow(1, b.column, b.columns).fill_(b.windows);
            covered.narrow(0, b.row, b.rows).narrow(1, b.column, b.columns) += 1;
        }
        EXPECT_TRUE(torch::equal(counted, expected));
        EXPECT_LE(covered.max().item<int64_t>(), 1) << "a pair in two blocks";
    }
}

// The stitched contacts of a protein read in windows are the average, over the windows that
// hold both residues, of each window's contacts.
TEST(HostileModels, StitchedContactsAverageTheWindowsHoldingBothResidues) {
    const TempDir dir;
    std::string protein;
    for (int i = 0; i < 250; ++i) {
        protein += "ACDEFGHIKLMNPQRSTVWY"[(i * 7 + i / 3) % 20];
    }
    write_file(dir / "p.fasta", ">p\n" + protein + "\n");
    const fs::path model = data_file("esm2_tiny/esm2_tiny.pt");
    const auto result =
        testing::run_embed((dir / "p.fasta").string() + " -o " + (dir / "out.h5").string() +
                           " -m " + model.string() + " --contacts --max-length 100 --long chunk");
    ASSERT_EQ(result.status, 0) << result.output;

    LoadOptions options;
    options.contacts = true;
    const auto encoder = load_encoder(model, options);
    EncodeRequest request;
    request.layers = {0};
    request.contacts = true;
    torch::Tensor sum = torch::zeros({250, 250});
    torch::Tensor count = torch::zeros({250, 250});
    for (const Window& w : windows_of(250, 100)) {
        const std::string_view piece = std::string_view(protein).substr(
            static_cast<size_t>(w.start), static_cast<size_t>(w.length));
        sum.narrow(0, w.start, w.length).narrow(1, w.start, w.length) +=
            encoder->encode({piece}, request)
                .contacts_BLL[0]
                .narrow(0, 0, w.length)
                .narrow(1, 0, w.length);
        count.narrow(0, w.start, w.length).narrow(1, w.start, w.length) += 1;
    }
    const h5::Handle file = h5::open_file((dir / "out.h5").string());
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "contacts/p"), sum / count.clamp_min(1)), 1e-6);
}

}  // namespace
}  // namespace embed
