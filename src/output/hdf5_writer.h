// Stage 5: HDF5 files of embeddings. This is where the layout is decided (README, "Output"):
//   /per_residue/<key>  (L, D), or (layers, L, D) when several layers were selected
//   /per_protein/<key>  (D,),   or (layers, D)
//   /contacts/<key>     (L, L), contact probabilities, when asked for
// float32 (or float16 with --storage-dtype float16), with attributes original_id, description,
// length and index (the protein's position among the input's) on each dataset, and the run's
// settings on the root. A run writes its proteins into parts (output_parts.h) as they finish;
// merge.h puts them together in input order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <torch/torch.h>

#include "base/disk_reservation.h"
#include "base/hdf5.h"
#include "base/names.h"

namespace embed {

/// Which groups a file has.
struct OutputGroups {
    bool per_residue = true;
    bool per_protein = true;
    bool contacts = false;
};

/// How datasets are stored.
struct StorageOptions {
    /// torch::kFloat32 or torch::kFloat16.
    torch::ScalarType dtype = torch::kFloat32;
    /// gzip level 1-9 with the shuffle filter; 0 stores uncompressed.
    int compression = 0;
};

/// --storage-dtype's values, and the `storage_dtype` attribute's.
inline constexpr NameTable<torch::ScalarType, 2> kStorageDtypeNames{
    {{"float32", torch::kFloat32}, {"float16", torch::kFloat16}}};

/// A name of kStorageDtypeNames; throws BadInput otherwise.
torch::ScalarType parse_storage_dtype(const std::string& name);

/// Run-wide facts, stored as root attributes. run_attribute_fields() says which of them a
/// resumed run and a merge compare, and the range each may take.
struct RunAttributes {
    std::string model;
    std::string model_family;
    std::string model_format;
    std::string checkpoint;
    std::string checkpoint_sha256;
    std::vector<int64_t> layers;
    std::string layer_reduction = "none";  ///< "none", or "sum" when the layers were added up
    std::string pooling = "mean";
    int64_t embedding_dim = 0;
    int64_t max_length = 0;  ///< 0: no limit
    std::string long_policy = "chunk";
    std::string dtype = "float32";  ///< what the model computed in (--dtype)
    std::string groups;             ///< e.g. "per_residue,per_protein"
    std::string storage_dtype = "float32";
    int64_t compression = 0;
    /// SHA-256 over the accepted records' ids and residues: the same input, in the same order.
    std::string input_digest;
    int64_t input_proteins = 0;  ///< proteins accepted from the input, all shards together
    /// Records accepted from the input, those left out for their length included: every
    /// protein's index is below it. 0 in files of versions that did not write it.
    int64_t input_records = 0;
    int64_t shard = 1;
    int64_t shards = 1;
    std::string tool_version;
    std::string command_line;

    /// "name: this vs other" for each compared field (run_attribute_fields()) that differs.
    std::vector<std::string> differences(const RunAttributes& other) const;
    void write(hid_t object) const;
    /// Throws std::runtime_error naming the attribute that is missing, of the wrong type or
    /// outside its range.
    static RunAttributes read(hid_t object);

    /// Layers stored per protein: 1 when summed, else one per selected layer.
    int64_t stored_layers() const;
};

/// One root attribute of RunAttributes: the single description that differences(), write()
/// and read() follow, so that a setting cannot be written without being compared, or the
/// reverse.
struct RunAttributeField {
    using Member = std::variant<std::string RunAttributes::*, int64_t RunAttributes::*,
                                std::vector<int64_t> RunAttributes::*>;
    const char* name;
    Member member;
    /// Files that differ here hold incompatible embeddings: --resume and merge refuse them.
    bool compared;
    /// Why it is compared, or why it may differ.
    const char* why;
    /// An integer's range (each element's, for a list), checked when read.
    int64_t min = 0;
    int64_t max = 0;
    /// A string's allowed values; empty: any.
    std::vector<std::string> allowed = {};
    /// The value files of older versions, which lack the attribute, mean; nullptr: required.
    const char* when_absent = nullptr;
};

/// Every field of RunAttributes, in the order they are written.
const std::vector<RunAttributeField>& run_attribute_fields();

/// Why integer attribute `name` of `value` is not within [min, max], or "" when it is: the one
/// range rule of root (RunAttributes::read) and per-protein (merge.h) attributes.
std::string attribute_range_error(const std::string& name, int64_t value, int64_t min, int64_t max);

/// The value of `field` in `attributes`, as differences() shows it.
std::string field_text(const RunAttributes& attributes, const RunAttributeField& field);

/// One protein's output, ready to store.
struct ProteinEmbedding {
    std::string key;
    std::string original_id;
    std::string description;
    uint64_t index = 0;             ///< position among the input's proteins
    int64_t length = 0;             ///< residues embedded (rows of per_residue)
    int64_t original_length = 0;    ///< residues in the input; larger when truncated
    std::string sequence_md5;       ///< of the input's residues: bio_embeddings' key
    torch::Tensor per_residue_NLD;  ///< (layers, L, D), or undefined when not written
    torch::Tensor per_protein_ND;   ///< (layers, D), or undefined when not written
    torch::Tensor contacts_LL;      ///< (L, L), or undefined when not written

    /// Bytes the tensors hold, to bound the memory of queues.
    size_t bytes() const;
};

/// A protein whose sequence is identical to an earlier one's: stored as that protein's data
/// under its own key and attributes.
struct AliasEntry {
    std::string key;
    std::string original_id;
    std::string description;
    uint64_t index = 0;
    int64_t length = 0;
    uint64_t same_as = 0;  ///< index of the protein embedded
};

/// Writes one file. Proteins appear in the order written; `finish` completes the file. Claims
/// the disk space of each protein before writing it: a full disk is a std::runtime_error
/// naming the file and "No space left on device", before libhdf5 writes anything of it.
class Hdf5Writer {
public:
    /// Creates (truncates) `path` with the groups asked for.
    Hdf5Writer(const std::filesystem::path& path, OutputGroups groups, StorageOptions storage = {});
    ~Hdf5Writer();
    Hdf5Writer(const Hdf5Writer&) = delete;
    Hdf5Writer& operator=(const Hdf5Writer&) = delete;

    void write(const ProteinEmbedding& protein);
    /// Recorded in /_aliases until merge.h resolves it into copies of the source's data.
    void write_alias(const AliasEntry& alias);
    size_t proteins() const { return proteins_; }

    /// Writes the root attributes and closes the file.
    void finish(const RunAttributes& attributes);

private:
    struct Group {
        const char* name;
        torch::Tensor (*data)(const ProteinEmbedding&);
        h5::Handle handle;
    };

    std::filesystem::path path_;
    StorageOptions storage_;
    /// Before file_: given back only after the file is closed, which writes its structure.
    DiskReservation reservation_;
    h5::Handle file_;
    std::vector<Group> groups_;
    h5::Handle aliases_;
    size_t proteins_ = 0;
    /// The structure of every dataset so far: claimed past the file's end until the file is
    /// closed, as libhdf5 writes it only then.
    uint64_t structure_bytes_ = 0;
};

/// The bytes a file of embeddings takes on disk, as measured with libhdf5 1.10: the values, and
/// the structure HDF5 keeps for each dataset (object header, attributes, the link in its
/// group, and with gzip a chunk index), which outweighs a small protein's values.
struct OutputBytes {
    double values = 0;     ///< uncompressed
    double structure = 0;  ///< unaffected by compression
    OutputBytes& operator+=(const OutputBytes& other);
    /// What the disk must hold at least: everything, or with gzip (whose ratio cannot be
    /// known ahead) the structure alone.
    double at_least(const StorageOptions& storage) const;
};

/// The bytes of one protein of `residues` stored rows with `layers` layers of `width` in the
/// groups and storage given, in either layout (the bio-embeddings files hold less).
OutputBytes estimated_output_bytes(int64_t residues, int64_t layers, int64_t width,
                                   const OutputGroups& groups, const StorageOptions& storage);

/// Bytes to claim (DiskReservation) for a dataset of `values` bytes copied or written into a
/// file of embeddings, with its attributes (`text_bytes` of strings) and link: an upper bound,
/// the sum of the two below.
uint64_t reserved_dataset_bytes(uint64_t values, size_t text_bytes, const StorageOptions& storage);
/// Its values (gzip may expand what it cannot compress), written when the dataset is.
uint64_t reserved_values_bytes(uint64_t values, const StorageOptions& storage);
/// Its structure, which libhdf5 may keep in its metadata cache until the file is closed.
uint64_t reserved_structure_bytes(size_t text_bytes, const StorageOptions& storage);
/// ... and for the file's own structure (superblock, root attributes, the groups' heaps, which
/// grow by blocks of up to 64 kB).
uint64_t reserved_file_bytes(size_t text_bytes);

/// The groups a file of embeddings may hold, in the order they are created.
const std::vector<std::string>& output_group_names();
inline constexpr const char* kPerResidueGroup = "per_residue";
inline constexpr const char* kPerProteinGroup = "per_protein";
inline constexpr const char* kContactsGroup = "contacts";
/// Where unresolved aliases wait in parts.
inline constexpr const char* kAliasGroup = "_aliases";

/// Creates (truncates) a file of embeddings, its groups in HDF5 1.8+'s dense format, which
/// scales to millions of members.
h5::Handle create_output_file(const std::filesystem::path& path);
/// Opens a file of embeddings (an output, a part or a shard) for reading.
h5::Handle open_output_file(const std::filesystem::path& path);
/// A group that keeps its members in creation order (h5py iterates them so).
h5::Handle create_output_group(hid_t file, const std::string& name);

/// Writes `tensor` as dataset `name` with the storage options; chunked when compressed.
h5::Handle write_embedding_dataset(hid_t location, const std::string& name,
                                   const torch::Tensor& tensor, const StorageOptions& storage);

/// Per-dataset attributes; original_length only when it differs from length (truncation).
void write_protein_attributes(hid_t dataset, const std::string& original_id,
                              const std::string& description, int64_t length,
                              int64_t original_length, uint64_t index);

}  // namespace embed
