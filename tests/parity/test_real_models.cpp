// The released models against their reference outputs in ../shared/testdata/real_model_refs
// (bio_embeddings' SeqVec and ESM-1b embeddings, Rostlab's SeqVec vectors, Hugging Face's ESM-2
// test vectors). The weights are not shipped: these tests run where a user has them, found by
// name as `embed -m NAME --offline` finds them (--model-dir aside: use $EMBED_MODEL_DIR).
#include <cstring>

#include "base/file.h"
#include "checkpoint/zip_archive.h"
#include "encode/encoder.h"
#include "encode/layers.h"
#include "encode/pooling.h"
#include "hub/model_store.h"
#include "input/fasta.h"
#include "models/families.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::max_abs_diff;
using testing::testdata;

// Real weights in fp32 on another BLAS agree to about 1e-5; the references were computed by
// other people's pipelines, so allow more.
constexpr double kReferenceTolerance = 1e-3;
// What Hugging Face's own test demands of these vectors.
constexpr double kHuggingFaceTolerance = 1e-4;

// A float32 array from a .npy file's bytes (format version 1 or 2, C order).
torch::Tensor parse_npy(const std::string& bytes, const std::string& source) {
    const size_t header_length_bytes = bytes.at(6) == 1 ? 2 : 4;
    size_t header_length = 0;
    for (size_t i = 0; i < header_length_bytes; ++i) {
        header_length |= size_t{static_cast<uint8_t>(bytes.at(8 + i))} << (8 * i);
    }
    const size_t data_start = 8 + header_length_bytes + header_length;
    const std::string header = bytes.substr(8 + header_length_bytes, header_length);
    if (header.find("'<f4'") == std::string::npos ||
        header.find("'fortran_order': False") == std::string::npos) {
        throw std::runtime_error(source + ": not a C-ordered float32 array");
    }
    std::vector<int64_t> shape;
    const size_t open = header.find('(', header.find("'shape'"));
    const std::string dims = header.substr(open + 1, header.find(')', open) - open - 1);
    for (size_t start = 0; start < dims.size();) {
        const size_t comma = std::min(dims.find(',', start), dims.size());
        const std::string item = dims.substr(start, comma - start);
        if (item.find_first_not_of(' ') != std::string::npos) {
            shape.push_back(std::stoll(item));
        }
        start = comma + 1;
    }
    torch::Tensor out = torch::empty(shape, torch::kFloat32);
    const size_t size = static_cast<size_t>(out.numel()) * sizeof(float);
    if (data_start > bytes.size() || bytes.size() - data_start < size) {
        throw std::runtime_error(source + ": array data shorter than its shape");
    }
    std::memcpy(out.data_ptr(), bytes.data() + data_start, size);
    return out;
}

torch::Tensor read_npz(const fs::path& file, const std::string& array) {
    const ZipArchive archive(ReadOnlyFile::open(file));
    return parse_npy(archive.read(array + ".npy"), file.string());
}

std::optional<fs::path> released(const std::string& name) {
    return find_local_model(*find_model_card(name), ModelLocations::from_environment({}));
}

#define REQUIRE_RELEASED(name, variable)                                                     \
    REQUIRE_SHARED_TESTDATA();                                                               \
    const std::optional<fs::path> variable = released(name);                                 \
    if (!variable) {                                                                         \
        GTEST_SKIP() << "needs the released " << name << " (embed download " << name << ")"; \
    }

EncodedBatch encode(Encoder& encoder, std::string_view residues, const std::string& layers) {
    const LayerSelection selection =
        resolve_layers(layers, encoder.info().num_layers, encoder.info().default_layers);
    EncodeRequest request;
    request.layers = selection.layers;
    request.bos = encoder.info().has_bos_token;
    return combine_layers(encoder.encode({residues}, request), selection);
}

TEST(RealModels, SeqVecMatchesBioEmbeddings) {
    REQUIRE_RELEASED("seqvec", checkpoint);
    const auto encoder = load_encoder(*checkpoint, LoadOptions{});
    for (const FastaRecord& record : read_fasta(testdata("real_model_refs/input.fasta"))) {
        const torch::Tensor expected_3LD =
            read_npz(testdata("real_model_refs/seqvec.npz"), record.id + " " + record.description);
        EXPECT_LT(max_abs_diff(encode(*encoder, record.residues, "all").residues_NBLD.select(1, 0),
                               expected_3LD),
                  kReferenceTolerance)
            << record.residues;
    }
}

TEST(RealModels, SeqVecPerProteinMatchesRostlab) {
    REQUIRE_RELEASED("seqvec", checkpoint);
    const auto encoder = load_encoder(*checkpoint, LoadOptions{});
    const std::string bytes = read_text_file(testdata("real_model_refs/embeddings.npy"));
    const torch::Tensor expected_PD = parse_npy(bytes, "embeddings.npy");
    const std::vector<FastaRecord> records =
        read_fasta(testdata("real_model_refs/sequences.fasta"));
    ASSERT_EQ(static_cast<int64_t>(records.size()), expected_PD.size(0));
    for (size_t p = 0; p < records.size(); ++p) {
        // SeqVec's per-protein vector: the mean over residues of the sum of the layers.
        const EncodedBatch out = encode(*encoder, records[p].residues, "");
        const auto length = static_cast<int64_t>(records[p].residues.size());
        EXPECT_LT(max_abs_diff(pool(out, 0, length, Pooling::mean)[0],
                               expected_PD[static_cast<int64_t>(p)]),
                  kReferenceTolerance)
            << records[p].id;
    }
}

TEST(RealModels, Esm1bMatchesBioEmbeddings) {
    REQUIRE_RELEASED("esm1b_t33_650M_UR50S", checkpoint);
    const auto encoder = load_encoder(*checkpoint, LoadOptions{});
    for (const FastaRecord& record : read_fasta(testdata("real_model_refs/input.fasta"))) {
        const torch::Tensor expected_LD =
            read_npz(testdata("real_model_refs/esm1b.npz"), record.id + " " + record.description);
        EXPECT_LT(
            max_abs_diff(encode(*encoder, record.residues, "").residues_NBLD[0][0], expected_LD),
            kReferenceTolerance)
            << record.residues;
    }
}

TEST(RealModels, Esm2MatchesHuggingFacesTestVectors) {
    REQUIRE_RELEASED("esm2_t6_8M_UR50D", checkpoint);
    const auto encoder = load_encoder(*checkpoint, LoadOptions{});
    // EsmModel on [<cls> G L D A L Q I T V <eos>]: last_hidden_state[0, :3, :3].
    const EncodedBatch out = encode(*encoder, "GLDALQITV", "");
    const torch::Tensor bos = out.bos_NBD[0][0].narrow(0, 0, 3);
    const torch::Tensor first_two = out.residues_NBLD[0][0].narrow(0, 0, 2).narrow(1, 0, 3);
    const torch::Tensor expected = torch::tensor({0.1444f, 0.5413f, 0.3248f, 0.3034f, 0.0053f,
                                                  0.3108f, 0.3228f, -0.2499f, 0.3415f})
                                       .view({3, 3});
    EXPECT_LT(max_abs_diff(torch::cat({bos.unsqueeze(0), first_two}), expected),
              kHuggingFaceTolerance);
}

}  // namespace
}  // namespace embed
