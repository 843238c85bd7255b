// Stage 5: the output file. This is where the HDF5 layout is decided (README, "Output"):
//   /per_residue/<key>  float32 (L, D), or (layers, L, D) when several layers were selected
//   /per_protein/<key>  float32 (D,),   or (layers, D)
//   /contacts/<key>     float32 (L, L), contact probabilities, when asked for
// with attributes original_id, description, length on each dataset and the run's settings on
// the root. Proteins appear in input order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "embed/util/hdf5.h"

namespace embed {

/// The dataset name for a record id: HDF5 separates paths with '/', so '/' becomes '_'.
std::string dataset_key(const std::string& record_id);

/// Why `key` cannot name a dataset, or an empty string when it can.
std::string invalid_key_reason(const std::string& key);

/// Run-wide facts, stored as root attributes.
struct RunAttributes {
    std::string model;
    std::string model_family;
    std::string model_format;
    std::string checkpoint;
    std::string checkpoint_sha256;
    std::vector<int64_t> layers;
    std::string layer_reduction;  ///< "none", or "sum" when the layers were added up
    std::string pooling;
    int64_t embedding_dim = 0;
    int64_t max_length = 0;  ///< 0: proteins were not truncated
    std::string tool_version;
    std::string command_line;
};

struct ProteinEmbedding {
    std::string key;
    std::string original_id;
    std::string description;
    int64_t length = 0;             ///< residues embedded (rows of per_residue)
    int64_t original_length = 0;    ///< residues in the input; larger when truncated
    torch::Tensor per_residue_NLD;  ///< (layers, L, D) float32, or undefined when not written
    torch::Tensor per_protein_ND;   ///< (layers, D) float32, or undefined when not written
    torch::Tensor contacts_LL;      ///< (L, L) float32, or undefined when not written
};

/// Which groups the file has.
struct OutputGroups {
    bool per_residue = true;
    bool per_protein = true;
    bool contacts = false;
};

class Hdf5Writer {
public:
    /// Creates (truncates) `path` with the groups asked for.
    Hdf5Writer(const std::filesystem::path& path, OutputGroups groups);
    ~Hdf5Writer();
    Hdf5Writer(const Hdf5Writer&) = delete;
    Hdf5Writer& operator=(const Hdf5Writer&) = delete;

    /// Writes protein number `index` (0-based, dense): whatever order the calls come in, the
    /// proteins appear in the file in index order.
    void write(size_t index, const ProteinEmbedding& protein);

    /// Writes the root attributes and closes the file; throws unless every index below the
    /// highest one written has been written.
    void finish(const RunAttributes& attributes);

private:
    // One output group: its name, and what of a protein it holds.
    struct Group {
        const char* name;
        torch::Tensor (*data)(const ProteinEmbedding&);
        h5::Handle handle;
    };

    void publish_ready();

    std::filesystem::path path_;
    h5::Handle file_;
    h5::Handle staging_;
    std::vector<Group> groups_;
    // Proteins written but not yet linked into place, by index, with their keys.
    std::map<size_t, std::string> waiting_;
    size_t next_to_publish_ = 0;
};

}  // namespace embed
