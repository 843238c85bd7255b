#include "test_support.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "base/hdf5.h"
#include "input/keys.h"

namespace embed::testing {

namespace fs = std::filesystem;

fs::path shared_dir() {
    if (const char* env = std::getenv("EMBED_SHARED_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return fs::path(EMBED_SOURCE_DIR).parent_path() / "shared";
}

bool have_shared_testdata() {
    return fs::is_directory(shared_dir() / "testdata/real_model_refs");
}

fs::path testdata(const std::string& relative) {
    return shared_dir() / "testdata" / relative;
}

fs::path data_file(const std::string& name) {
    return fs::path(EMBED_SOURCE_DIR) / "tests/data" / name;
}

TempDir::TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("embed-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    fs::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

void write_file(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string local_model() {
    return data_file("esm2_tiny_pytorch_bin").string();
}

std::string example_fasta() {
    return (fs::path(EMBED_SOURCE_DIR) / "examples/proteins.fasta").string();
}

std::string random_proteins(size_t count, unsigned seed) {
    static const char kResidues[] = "ACDEFGHIKLMNPQRSTVWY";
    std::mt19937 random(seed);
    std::uniform_int_distribution<int> length(30, 200);
    std::uniform_int_distribution<int> residue(0, 19);
    std::string fasta;
    for (size_t i = 0; i < count; ++i) {
        fasta += ">p" + std::to_string(i) + " protein " + std::to_string(i) + "\n";
        for (int n = length(random); n > 0; --n) {
            fasta += kResidues[residue(random)];
        }
        fasta += "\n";
    }
    return fasta;
}

ProteinEmbedding filled_protein(const std::string& id, uint64_t index, int64_t layers,
                                int64_t length, int64_t width, float fill) {
    ProteinEmbedding p;
    p.key = dataset_key(id);
    p.original_id = id;
    p.description = "about " + id;
    p.index = index;
    p.length = length;
    p.original_length = length;
    p.sequence_md5 = "md5 of " + id;
    p.per_residue_NLD = torch::full({layers, length, width}, fill);
    p.per_protein_ND = torch::full({layers, width}, fill);
    return p;
}

torch::Tensor read_tensor(hid_t file, const std::string& path) {
    const h5::FloatArray array = h5::read_float_dataset(file, path);
    return torch::tensor(array.values)
        .view(std::vector<int64_t>(array.shape.begin(), array.shape.end()));
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    EXPECT_EQ(a.sizes(), b.sizes());
    if (a.sizes() != b.sizes()) {
        return INFINITY;
    }
    return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

double min_cosine(const torch::Tensor& a, const torch::Tensor& b) {
    EXPECT_EQ(a.sizes(), b.sizes());
    if (a.sizes() != b.sizes()) {
        return -INFINITY;
    }
    const torch::Tensor a_RD = a.reshape({-1, a.size(-1)});
    const torch::Tensor b_RD = b.reshape({-1, b.size(-1)});
    return torch::cosine_similarity(a_RD, b_RD, 1).min().item<double>();
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

void write_safetensors(const fs::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
    std::string header = "{";
    std::string data;
    for (const auto& [name, tensor] : tensors) {
        const torch::Tensor t = tensor.to(torch::kFloat32).contiguous();
        std::string shape;
        for (const int64_t d : t.sizes()) {
            shape += (shape.empty() ? "" : ",") + std::to_string(d);
        }
        const size_t begin = data.size();
        data.append(static_cast<const char*>(t.data_ptr()), t.numel() * sizeof(float));
        header += (header.size() > 1 ? "," : "") + std::string("\"") + name +
                  "\": {\"dtype\": \"F32\", \"shape\": [" + shape + "], \"data_offsets\": [" +
                  std::to_string(begin) + ", " + std::to_string(data.size()) + "]}";
    }
    header += "}";
    std::string length(8, '\0');
    for (size_t i = 0; i < 8; ++i) {
        length[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    }
    write_file(path, length + header + data);
}

CommandResult run_embed(const std::string& arguments) {
    return run_embed_with_environment("", arguments);
}

CommandResult run_embed_with_environment(const std::string& environment,
                                         const std::string& arguments) {
    const std::string command =
        environment + " " + std::string(EMBED_EXECUTABLE) + " " + arguments + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return {-1, "popen failed"};
    }
    std::string output;
    std::array<char, 4096> buffer{};
    size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        output.append(buffer.data(), got);
    }
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

namespace {

// Says once, before any test runs, whether the upstream fixtures were found.
class SharedDataReport : public ::testing::Environment {
public:
    void SetUp() override {
        if (have_shared_testdata()) {
            std::cout << "[ fixtures ] upstream fixtures: " << shared_dir() / "testdata"
                      << "\n";
        } else {
            std::cout << "[ fixtures ] upstream fixtures NOT FOUND at " << shared_dir() / "testdata"
                      << ": the released models' tests will be SKIPPED (set EMBED_SHARED_DIR)\n";
        }
    }
};

[[maybe_unused]] const auto* const kReport =
    ::testing::AddGlobalTestEnvironment(new SharedDataReport);

}  // namespace

}  // namespace embed::testing
