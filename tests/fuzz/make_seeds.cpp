// Writes the seed corpora of the fuzz targets: small valid inputs of each format, so that the
// fuzzer starts from files the readers accept. scripts/fuzz.sh adds tests/data's pickles and
// torch.save archives, and ../shared/testdata's checkpoints when present.
//
//   fuzz_make_seeds DIR      -> DIR/fasta/..., DIR/json/..., DIR/safetensors/...,
//   DIR/hdf5_weights/..., DIR/output_file/...
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <hdf5.h>
#include <zlib.h>

#include "base/hdf5.h"
#include "output/hdf5_writer.h"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

void write_gzip(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    gzFile file = gzopen(path.c_str(), "wb");
    gzwrite(file, content.data(), static_cast<unsigned>(content.size()));
    gzclose(file);
}

void fasta_seeds(const fs::path& dir) {
    const std::string plain =
        ">sp|P01308|INS_HUMAN Insulin B chain\nFVNQHLCGSHLVEALYLVCGERGFFYTPKT\n"
        ">multi line record\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYN\n"
        "IQKESTLHLVLRLRGG\n";
    write(dir / "plain.fasta", plain);
    write_gzip(dir / "plain.fasta.gz", plain);
    // Everything the reader accepts: a byte-order mark, CRLF, blank lines, spaces in sequence
    // lines, lower case, a stop codon, ESM's extra letters.
    write(dir / "tolerated.fasta",
          "\xEF\xBB\xBF>a desc\r\nmk t\r\n\r\nAA*\r\n>b/c\nXBUZO.-\n\n>B \t "
          "tab\nACDEFGHIKLMNPQRSTVWY\n");
    // Every kind of invalid record: text before the header, no id, no sequence, an empty
    // sequence, a residue outside the alphabet, a duplicate id, colliding output keys, too long.
    write(
        dir / "invalid.fasta",
        "junk\n>\nMK\n>no_sequence\n>empty\n*\n>bad J1\nMKJ\n>dup\nMK\n>dup\nMK\n>a/b\nM\n>a_b\nM\n"
        ">long\n" +
            std::string(100, 'A') + "\n");
}

void json_seeds(const fs::path& dir) {
    write(dir / "esm2_config.json",
          R"({"architectures": ["EsmForMaskedLM"], "model_type": "esm", "hidden_size": 32,
 "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
 "max_position_embeddings": 1026, "position_embedding_type": "rotary", "vocab_size": 33,
 "layer_norm_eps": 1e-05, "token_dropout": true, "emb_layer_norm_before": false,
 "pad_token_id": 1, "mask_token_id": 32, "torch_dtype": "float32"})");
    write(dir / "esm1b_config.json",
          R"({"model_type": "esm", "hidden_size": 32, "num_hidden_layers": 2,
 "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 1026,
 "position_embedding_type": "absolute", "emb_layer_norm_before": true, "token_dropout": false})");
    write(dir / "elmo_options.json",
          R"({"lstm": {"use_skip_connections": true, "projection_dim": 8, "cell_clip": 3,
 "proj_clip": 3, "dim": 16, "n_layers": 2}, "char_cnn": {"activation": "relu",
 "filters": [[1, 4], [2, 4], [3, 8]], "n_highway": 2, "embedding": {"dim": 4},
 "n_characters": 262, "max_characters_per_token": 50}})");
    write(dir / "values.json",
          R"([null, true, false, -0.5e-3, 12, "t\u00e9xt \ud83d\ude00 \"\\\/\b\f\n\r\t",
 NaN, Infinity, -Infinity, {"": [], "nested": [[{}]]}])");
}

void safetensors_seed(const fs::path& dir) {
    const std::string header =
        R"({"__metadata__": {"format": "pt"}, "a.weight": {"dtype": "F32", "shape": [2, 2],)"
        R"( "data_offsets": [0, 16]}, "b": {"dtype": "F16", "shape": [3], "data_offsets": [16, 22]},)"
        R"( "c": {"dtype": "I64", "shape": [], "data_offsets": [22, 30]}})";
    std::string length(8, '\0');
    for (size_t i = 0; i < 8; ++i) {
        length[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    }
    std::string data(30, '\0');
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 7);
    }
    write(dir / "small.safetensors", length + header + data);
}

// A weights file shaped like bilm-tf's (groups of float datasets), in HDF5's oldest file
// format (as h5py writes by default) and in its latest (smaller headers).
void hdf5_seed(const fs::path& path, bool latest_format) {
    using embed::h5::Handle;
    fs::create_directories(path.parent_path());
    const Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access");
    if (latest_format) {
        H5Pset_libver_bounds(access.id(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    }
    const Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.id()), H5Fclose,
                      path.string());
    const std::vector<float> values = {1, 2, 3, 4, 5, 6};
    embed::h5::write_float_dataset(file.id(), "char_embed", {2, 3}, values.data());
    const Handle group(H5Gcreate2(file.id(), "CNN", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                       H5Gclose, "group");
    embed::h5::write_float_dataset(group.id(), "b_cnn_0", {3}, values.data());
    // A chunked, shuffled and compressed dataset, as --compress writes and some exports hold.
    const hsize_t shape[] = {6};
    const Handle space(H5Screate_simple(1, shape, nullptr), H5Sclose, "space");
    const Handle create(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset creation");
    const hsize_t chunk[] = {3};
    H5Pset_chunk(create.id(), 1, chunk);
    H5Pset_shuffle(create.id());
    H5Pset_deflate(create.id(), 6);
    const Handle dataset(H5Dcreate2(group.id(), "W_cnn_0", H5T_IEEE_F32LE, space.id(), H5P_DEFAULT,
                                    create.id(), H5P_DEFAULT),
                         H5Dclose, "dataset");
    H5Dwrite(dataset.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
}

// Files of embeddings as a run writes them: a part with an alias, a merged output of three
// layers in float16 with gzip, and one of contacts only.
void output_seeds(const fs::path& dir) {
    fs::create_directories(dir);
    const auto protein = [](const std::string& id, uint64_t index, int64_t layers, int64_t length) {
        embed::ProteinEmbedding p;
        p.key = id;
        p.original_id = id;
        p.description = "a protein";
        p.index = index;
        p.length = length;
        p.original_length = length;
        p.sequence_md5 = "0123456789abcdef0123456789abcdef";
        p.per_residue_NLD = torch::rand({layers, length, 4});
        p.per_protein_ND = torch::rand({layers, 4});
        p.contacts_LL = torch::rand({length, length});
        return p;
    };
    embed::RunAttributes a;
    a.model = "esm2_tiny";
    a.model_family = "ESM";
    a.model_format = "fair-esm";
    a.layers = {2};
    a.embedding_dim = 4;
    a.groups = "per_residue,per_protein";
    a.input_proteins = 3;
    {
        embed::Hdf5Writer part(dir / "part.h5", embed::OutputGroups{});
        part.write(protein("a", 0, 1, 3));
        part.write_alias(embed::AliasEntry{"b", "b", "", 2, 3, 0});
        part.write(protein("c", 1, 1, 2));
        part.finish(a);
    }
    a.layers = {0, 1, 2};
    a.storage_dtype = "float16";
    a.compression = 4;
    {
        embed::Hdf5Writer output(dir / "layers_float16_gzip.h5", embed::OutputGroups{},
                                 embed::StorageOptions{torch::kFloat16, 4});
        output.write(protein("a", 0, 3, 3));
        output.write(protein("c", 2, 3, 5));
        output.finish(a);
    }
    a.layers = {2};
    a.storage_dtype = "float32";
    a.compression = 0;
    a.groups = "contacts";
    {
        embed::Hdf5Writer output(dir / "contacts.h5", embed::OutputGroups{false, false, true});
        output.write(protein("a", 1, 1, 3));
        output.finish(a);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const fs::path dir = argv[1];
    fasta_seeds(dir / "fasta");
    json_seeds(dir / "json");
    safetensors_seed(dir / "safetensors");
    hdf5_seed(dir / "hdf5_weights/weights.hdf5", false);
    hdf5_seed(dir / "hdf5_weights/weights_latest.hdf5", true);
    output_seeds(dir / "output_file");
    return 0;
}
