#include "output/hdf5_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <type_traits>
#include <unistd.h>

#include "base/errors.h"

namespace embed {
namespace {

// Compressed datasets are chunked along their first axis in pieces of about this many bytes.
constexpr size_t kChunkBytes = size_t{1} << 20;

// A single selected layer is stored without the layer axis.
torch::Tensor drop_single_layer_axis(const torch::Tensor& t) {
    return t.size(0) == 1 ? t.squeeze(0) : t;
}

torch::Tensor per_residue(const ProteinEmbedding& p) {
    return drop_single_layer_axis(p.per_residue_NLD);
}
torch::Tensor per_protein(const ProteinEmbedding& p) {
    return drop_single_layer_axis(p.per_protein_ND);
}
torch::Tensor contacts(const ProteinEmbedding& p) {
    return p.contacts_LL;
}

// IEEE 754 half precision, little-endian: what numpy and h5py call float16.
h5::Handle half_type() {
    h5::Handle type(H5Tcopy(H5T_IEEE_F32LE), H5Tclose, "float16 type");
    h5::check(H5Tset_fields(type.id(), 15, 10, 5, 0, 10), "float16 type");
    h5::check(H5Tset_size(type.id(), 2), "float16 type");
    h5::check(H5Tset_ebias(type.id(), 15), "float16 type");
    return type;
}

std::string joined(const std::vector<int64_t>& values) {
    std::string out;
    for (const int64_t v : values) {
        out += (out.empty() ? "" : ",") + std::to_string(v);
    }
    return out;
}

std::string joined(const std::vector<std::string>& values) {
    std::string out;
    for (const std::string& v : values) {
        out += (out.empty() ? "" : ", ") + v;
    }
    return out;
}

}  // namespace

torch::ScalarType parse_storage_dtype(const std::string& name) {
    return parse_named(kStorageDtypeNames, "--storage-dtype", name);
}

namespace {

// Plausibility bounds for the integers of a file's root, far beyond any real run but small
// enough that no count derived from them overflows or exhausts memory.
constexpr int64_t kMaxLayerIndex = int64_t{1} << 12;
constexpr int64_t kMaxEmbeddingDim = int64_t{1} << 16;
constexpr int64_t kMaxResidues = int64_t{1} << 31;
constexpr int64_t kMaxProteins = int64_t{1} << 40;
constexpr int64_t kMaxGzipLevel = 9;

using Strings = std::vector<std::string>;

std::vector<RunAttributeField> make_fields() {
    using R = RunAttributes;
    return {
        {"model", &R::model, true, "another model gives other embeddings"},
        {"model_family", &R::model_family, true, "another family gives other embeddings"},
        {"model_format", &R::model_format, true, "another file format may hold other weights"},
        {"checkpoint", &R::checkpoint, false,
         "the same weights may be read from another path (checkpoint_sha256 says if they are "
         "the same)"},
        {"checkpoint_sha256", &R::checkpoint_sha256, true, "other weights, other embeddings"},
        {"layers", &R::layers, true, "other layers, other embeddings", 0, kMaxLayerIndex},
        {"layer_reduction", &R::layer_reduction, true, "summed layers differ from each layer", 0, 0,
         Strings{"none", "sum"}},
        {"pooling", &R::pooling, true, "another per-protein vector", 0, 0, Strings{"mean", "bos"}},
        {"embedding_dim", &R::embedding_dim, true, "the width of every dataset", 1,
         kMaxEmbeddingDim},
        {"max_length", &R::max_length, true, "where long proteins are cut or windowed", 0,
         kMaxResidues},
        {"long_policy", &R::long_policy, true, "what long proteins become", 0, 0,
         Strings{"chunk", "truncate", "skip", "error"}},
        {"dtype", &R::dtype, true, "what the model computed in changes the values", 0, 0,
         Strings{"float32", "bfloat16", "float16"}, "float32"},
        {"groups", &R::groups, true, "which datasets each protein has"},
        {"storage_dtype", &R::storage_dtype, true, "the type of every dataset", 0, 0,
         Strings{"float32", "float16"}},
        {"compression", &R::compression, true,
         "the root must say truly how every dataset is stored", 0, kMaxGzipLevel},
        {"input_digest", &R::input_digest, true, "another input, other proteins"},
        {"input_proteins", &R::input_proteins, true, "the proteins a complete merge holds", 0,
         kMaxProteins},
        {"input_records", &R::input_records, true, "the bound of every protein's index", 0,
         kMaxProteins, Strings{}, "0"},
        {"shard", &R::shard, false, "each shard of an array job has its own", 1, kMaxProteins},
        {"shards", &R::shards, true, "shards of one array job split the input alike", 1,
         kMaxProteins},
        {"tool_version", &R::tool_version, false,
         "versions that write the same settings write the same embeddings"},
        {"command_line", &R::command_line, false,
         "the same settings can be spelled differently (and --resume is added)"},
    };
}

void check_range(const RunAttributeField& field, int64_t value) {
    if (const std::string error = attribute_range_error(field.name, value, field.min, field.max);
        !error.empty()) {
        throw std::runtime_error(error);
    }
}

}  // namespace

std::string attribute_range_error(const std::string& name, int64_t value, int64_t min,
                                  int64_t max) {
    if (value >= min && value <= max) {
        return {};
    }
    return "attribute " + name + " is " + std::to_string(value) + ", outside " +
           std::to_string(min) + ".." + std::to_string(max);
}

const std::vector<RunAttributeField>& run_attribute_fields() {
    static const std::vector<RunAttributeField> fields = make_fields();
    return fields;
}

std::string field_text(const RunAttributes& attributes, const RunAttributeField& field) {
    return std::visit(
        [&](auto member) -> std::string {
            const auto& value = attributes.*member;
            using Value = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<Value, std::string>) {
                return value;
            } else if constexpr (std::is_same_v<Value, int64_t>) {
                return std::to_string(value);
            } else {
                return joined(value);
            }
        },
        field.member);
}

std::vector<std::string> RunAttributes::differences(const RunAttributes& other) const {
    std::vector<std::string> out;
    for (const RunAttributeField& field : run_attribute_fields()) {
        const std::string mine = field_text(*this, field);
        const std::string theirs = field_text(other, field);
        if (field.compared && mine != theirs) {
            out.push_back(std::string(field.name) + ": " + mine + " vs " + theirs);
        }
    }
    return out;
}

void RunAttributes::write(hid_t object) const {
    for (const RunAttributeField& field : run_attribute_fields()) {
        std::visit([&](auto member) { h5::write_attribute(object, field.name, this->*member); },
                   field.member);
    }
}

RunAttributes RunAttributes::read(hid_t object) {
    RunAttributes a;
    for (const RunAttributeField& field : run_attribute_fields()) {
        if (field.when_absent != nullptr && !h5::has_attribute(object, field.name)) {
            if (const auto* text = std::get_if<std::string RunAttributes::*>(&field.member)) {
                a.** text = field.when_absent;
            } else {
                a.*std::get<int64_t RunAttributes::*>(field.member) = std::stoll(field.when_absent);
            }
            continue;
        }
        std::visit(
            [&](auto member) {
                auto& value = a.*member;
                using Value = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<Value, std::string>) {
                    value = h5::read_string_attribute(object, field.name);
                    if (!field.allowed.empty() &&
                        std::find(field.allowed.begin(), field.allowed.end(), value) ==
                            field.allowed.end()) {
                        throw std::runtime_error("attribute " + std::string(field.name) + " is '" +
                                                 value + "', not one of " + joined(field.allowed));
                    }
                } else if constexpr (std::is_same_v<Value, int64_t>) {
                    value = h5::read_int_attribute(object, field.name);
                    check_range(field, value);
                } else {
                    value = h5::read_int_array_attribute(object, field.name);
                    for (const int64_t v : value) {
                        check_range(field, v);
                    }
                }
            },
            field.member);
    }
    if (a.input_records != 0 && a.input_records < a.input_proteins) {
        throw std::runtime_error("attribute input_records is " + std::to_string(a.input_records) +
                                 ", fewer than input_proteins " + std::to_string(a.input_proteins));
    }
    if (a.shard > a.shards) {
        throw std::runtime_error("attribute shard is " + std::to_string(a.shard) + " of " +
                                 std::to_string(a.shards) + " shards");
    }
    if (a.layers.empty()) {
        throw std::runtime_error("attribute layers is empty");
    }
    std::vector<std::string> known = output_group_names();
    for (size_t begin = 0; begin <= a.groups.size();) {
        const size_t end = std::min(a.groups.find(',', begin), a.groups.size());
        const std::string group = a.groups.substr(begin, end - begin);
        const auto found = std::find(known.begin(), known.end(), group);
        if (found == known.end()) {
            throw std::runtime_error("attribute groups is '" + a.groups + "': '" + group +
                                     "' is not one of " + joined(output_group_names()) +
                                     " (or named twice)");
        }
        known.erase(found);
        begin = end + 1;
    }
    return a;
}

int64_t RunAttributes::stored_layers() const {
    return layer_reduction == "sum" ? 1 : static_cast<int64_t>(layers.size());
}

size_t ProteinEmbedding::bytes() const {
    size_t total = 0;
    for (const torch::Tensor* t : {&per_residue_NLD, &per_protein_ND, &contacts_LL}) {
        if (t->defined()) {
            total += static_cast<size_t>(t->numel()) * t->element_size();
        }
    }
    return total;
}

namespace {

// Measured on 2,000 proteins with ids of 4 characters and no description (issue 16): 557 bytes
// per dataset beside its values (659 per residue-level one), and 2.1 kB more with gzip, whose
// chunked datasets each have a B-tree. Rounded up for ids and descriptions of a few hundred
// characters, which the header holds twice (link name and attribute).
constexpr double kDatasetStructureBytes = 1024;
constexpr double kChunkIndexBytes = 2560;
// Deflate can grow data it cannot compress, by a few bytes per block and per chunk.
constexpr double kGzipExpansion = 1.01;
constexpr uint64_t kGzipChunkBytes = 64;
// Superblock, root group and attributes, and the first blocks of each group's heaps and
// B-trees, allocated before the proteins that fill them.
constexpr uint64_t kFileStructureBytes = 256 << 10;

}  // namespace

uint64_t reserved_values_bytes(uint64_t values, const StorageOptions& storage) {
    const bool gzip = storage.compression > 0;
    return static_cast<uint64_t>(static_cast<double>(values) * (gzip ? kGzipExpansion : 1.0)) +
           (gzip ? kGzipChunkBytes : 0);
}

uint64_t reserved_structure_bytes(size_t text_bytes, const StorageOptions& storage) {
    return (storage.compression > 0 ? static_cast<uint64_t>(kChunkIndexBytes) : 0) +
           static_cast<uint64_t>(kDatasetStructureBytes) + 2 * text_bytes;
}

uint64_t reserved_dataset_bytes(uint64_t values, size_t text_bytes, const StorageOptions& storage) {
    return reserved_values_bytes(values, storage) + reserved_structure_bytes(text_bytes, storage);
}

uint64_t reserved_file_bytes(size_t text_bytes) {
    return kFileStructureBytes + 2 * text_bytes;
}

OutputBytes& OutputBytes::operator+=(const OutputBytes& other) {
    values += other.values;
    structure += other.structure;
    return *this;
}

double OutputBytes::at_least(const StorageOptions& storage) const {
    return storage.compression > 0 ? structure : values + structure;
}

OutputBytes estimated_output_bytes(int64_t residues, int64_t layers, int64_t width,
                                   const OutputGroups& groups, const StorageOptions& storage) {
    const double value_bytes = storage.dtype == torch::kFloat16 ? 2 : 4;
    const auto L = static_cast<double>(residues);
    const auto values_per_protein = static_cast<double>(layers) * static_cast<double>(width);
    OutputBytes bytes;
    for (const auto& [wanted, values] :
         {std::pair{groups.per_residue, L * values_per_protein},
          std::pair{groups.per_protein, values_per_protein}, std::pair{groups.contacts, L * L}}) {
        if (wanted) {
            bytes.values += value_bytes * values;
            bytes.structure += static_cast<double>(reserved_structure_bytes(0, storage));
        }
    }
    return bytes;
}

const std::vector<std::string>& output_group_names() {
    static const std::vector<std::string> names = {kPerResidueGroup, kPerProteinGroup,
                                                   kContactsGroup};
    return names;
}

namespace {

// HDF5 sizes its metadata cache by the objects' size on disk, up to 32 MB by default, but holds
// them decoded: about 10 kB per dataset header with its attributes, so a file of 100,000
// proteins kept ~100 MB of headers alive while it was written, read or merged. Proteins are
// touched once, in order, so a small cache costs no speed.
constexpr size_t kMetadataCacheBytes = 256 << 10;

h5::Handle embeddings_file_access() {
    h5::Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file properties");
    h5::check(H5Pset_libver_bounds(access.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
              "file properties");
    H5AC_cache_config_t cache{};
    cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    h5::check(H5Pget_mdc_config(access.id(), &cache), "metadata cache settings");
    cache.set_initial_size = true;
    cache.initial_size = kMetadataCacheBytes;
    cache.min_size = kMetadataCacheBytes / 4;
    cache.max_size = kMetadataCacheBytes;
    h5::check(H5Pset_mdc_config(access.id(), &cache), "metadata cache settings");
    return access;
}

}  // namespace

h5::Handle create_output_file(const std::filesystem::path& path) {
    h5::silence_library_errors();
    return h5::Handle(
        H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, embeddings_file_access().id()),
        H5Fclose, path.string() + ": cannot create");
}

h5::Handle open_output_file(const std::filesystem::path& path) {
    h5::silence_library_errors();
    // Said in one line here: libhdf5's own reasons for these are a stack of internals.
    std::error_code error;
    const std::filesystem::file_status status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status)) {
        throw BadInput(path.string() + ": no such file");
    }
    if (!std::filesystem::is_regular_file(status)) {
        throw BadInput(
            path.string() + ": " +
            (std::filesystem::is_directory(status) ? "a directory" : "not a regular file") +
            ", not an HDF5 file of embeddings");
    }
    {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
        }
        ::close(fd);
    }
    if (H5Fis_hdf5(path.c_str()) <= 0) {
        throw BadInput(path.string() + ": not an HDF5 file");
    }
    return h5::Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, embeddings_file_access().id()),
                      H5Fclose, path.string() + ": cannot open");
}

h5::Handle create_output_group(hid_t file, const std::string& name) {
    const h5::Handle properties(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "group properties");
    h5::check(
        H5Pset_link_creation_order(properties.id(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "group properties");
    return h5::Handle(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, properties.id(), H5P_DEFAULT),
                      H5Gclose, "create group /" + name);
}

h5::Handle write_embedding_dataset(hid_t location, const std::string& name,
                                   const torch::Tensor& tensor, const StorageOptions& storage) {
    const torch::Tensor data = tensor.to(torch::kCPU, storage.dtype).contiguous();
    std::vector<hsize_t> shape(data.sizes().begin(), data.sizes().end());
    const h5::Handle space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr),
                           H5Sclose, "dataspace");
    const h5::Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset properties");
    if (storage.compression > 0 && !shape.empty() && data.numel() > 0) {
        std::vector<hsize_t> chunk = shape;
        const size_t row_bytes =
            static_cast<size_t>(data.numel() / data.size(0)) * data.element_size();
        chunk[0] = std::clamp<hsize_t>(kChunkBytes / std::max<size_t>(row_bytes, 1), 1, shape[0]);
        h5::check(H5Pset_chunk(properties.id(), static_cast<int>(chunk.size()), chunk.data()),
                  "chunking " + name);
        h5::check(H5Pset_shuffle(properties.id()), "shuffle filter " + name);
        h5::check(H5Pset_deflate(properties.id(), static_cast<unsigned>(storage.compression)),
                  "gzip filter " + name);
    }
    const h5::Handle half = half_type();
    const hid_t type = storage.dtype == torch::kFloat16 ? half.id() : H5T_IEEE_F32LE;
    h5::Handle dataset(H5Dcreate2(location, name.c_str(), type, space.id(), H5P_DEFAULT,
                                  properties.id(), H5P_DEFAULT),
                       H5Dclose, "create dataset " + name);
    h5::check(H5Dwrite(dataset.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr()),
              "write dataset " + name);
    return dataset;
}

void write_protein_attributes(hid_t dataset, const std::string& original_id,
                              const std::string& description, int64_t length,
                              int64_t original_length, uint64_t index) {
    h5::write_attribute(dataset, "original_id", original_id);
    h5::write_attribute(dataset, "description", description);
    h5::write_attribute(dataset, "length", length);
    if (original_length != length) {
        h5::write_attribute(dataset, "original_length", original_length);
    }
    h5::write_attribute(dataset, "index", static_cast<int64_t>(index));
}

Hdf5Writer::Hdf5Writer(const std::filesystem::path& path, OutputGroups groups,
                       StorageOptions storage)
    : path_(path),
      storage_(storage),
      file_((require_free_space(path, reserved_file_bytes(0)), create_output_file(path))) {
    try {
        reservation_ = DiskReservation(path);
        structure_bytes_ = reserved_file_bytes(0);
        reservation_.reserve_beyond_end(structure_bytes_);
    } catch (...) {
        file_ = h5::Handle();
        std::error_code ignored;
        std::filesystem::remove(path, ignored);  // nothing of it written: no part to resume
        throw;
    }
    const Group candidates[] = {{kPerResidueGroup, per_residue, {}},
                                {kPerProteinGroup, per_protein, {}},
                                {kContactsGroup, contacts, {}}};
    const bool wanted[] = {groups.per_residue, groups.per_protein, groups.contacts};
    for (size_t i = 0; i < std::size(candidates); ++i) {
        if (wanted[i]) {
            groups_.push_back(Group{candidates[i].name, candidates[i].data,
                                    create_output_group(file_.id(), candidates[i].name)});
        }
    }
}

Hdf5Writer::~Hdf5Writer() = default;

void Hdf5Writer::write(const ProteinEmbedding& protein) {
    try {
        const size_t text_bytes = protein.key.size() + protein.original_id.size() +
                                  protein.description.size() + protein.sequence_md5.size();
        uint64_t values = 0;
        for (const Group& group : groups_) {
            values += reserved_values_bytes(static_cast<uint64_t>(group.data(protein).numel()) *
                                                torch::elementSize(storage_.dtype),
                                            storage_);
            structure_bytes_ += reserved_structure_bytes(text_bytes, storage_);
        }
        reservation_.reserve_beyond_end(structure_bytes_ + values);
        for (const Group& group : groups_) {
            const h5::Handle dataset = write_embedding_dataset(group.handle.id(), protein.key,
                                                               group.data(protein), storage_);
            write_protein_attributes(dataset.id(), protein.original_id, protein.description,
                                     protein.length, protein.original_length, protein.index);
            h5::write_attribute(dataset.id(), "sequence_md5", protein.sequence_md5);
        }
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path_.string() + ": protein '" + protein.original_id +
                                 "': " + e.what());
    }
    ++proteins_;
}

void Hdf5Writer::write_alias(const AliasEntry& alias) {
    structure_bytes_ += reserved_dataset_bytes(
        sizeof(int64_t), alias.key.size() + alias.original_id.size() + alias.description.size(),
        StorageOptions{});
    if (aliases_.id() < 0) {
        structure_bytes_ += reserved_file_bytes(0);  // the group's heaps
    }
    reservation_.reserve_beyond_end(structure_bytes_);
    if (aliases_.id() < 0) {
        aliases_ = create_output_group(file_.id(), kAliasGroup);
    }
    const h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose, "dataspace");
    const h5::Handle dataset(H5Dcreate2(aliases_.id(), alias.key.c_str(), H5T_STD_I64LE, space.id(),
                                        H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                             H5Dclose, path_.string() + ": alias " + alias.key);
    const auto same_as = static_cast<int64_t>(alias.same_as);
    h5::check(H5Dwrite(dataset.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &same_as),
              path_.string() + ": alias " + alias.key);
    write_protein_attributes(dataset.id(), alias.original_id, alias.description, alias.length,
                             alias.length, alias.index);
    ++proteins_;
}

void Hdf5Writer::finish(const RunAttributes& attributes) {
    structure_bytes_ +=
        reserved_file_bytes(attributes.command_line.size() + attributes.checkpoint.size());
    reservation_.reserve_beyond_end(structure_bytes_);
    attributes.write(file_.id());
    h5::write_attribute(file_.id(), "proteins", static_cast<int64_t>(proteins_));
    aliases_.close(path_.string() + ": close /" + kAliasGroup);
    for (Group& group : groups_) {
        group.handle.close(path_.string() + ": close /" + group.name);
    }
    file_.close(path_.string() + ": close");
    reservation_.release();
}

}  // namespace embed
