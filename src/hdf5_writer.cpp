#include "embed/hdf5_writer.h"

#include <algorithm>
#include <stdexcept>

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

}  // namespace

std::string dataset_key(const std::string& record_id) {
    std::string key = record_id;
    std::replace(key.begin(), key.end(), '/', '_');
    return key;
}

std::string invalid_key_reason(const std::string& key) {
    if (key.empty()) {
        return "an empty id cannot name a dataset";
    }
    if (key == "." || key == "..") {
        return "'" + key + "' cannot name an HDF5 dataset";
    }
    return {};
}

torch::ScalarType parse_storage_dtype(const std::string& name) {
    if (name == "float32") {
        return torch::kFloat32;
    }
    if (name == "float16") {
        return torch::kFloat16;
    }
    throw std::invalid_argument("--storage-dtype: '" + name + "' is not float32 or float16");
}

std::vector<std::string> RunAttributes::differences(const RunAttributes& other) const {
    std::vector<std::string> out;
    const auto compare = [&](const char* name, const std::string& mine, const std::string& theirs) {
        if (mine != theirs) {
            out.push_back(std::string(name) + ": " + mine + " vs " + theirs);
        }
    };
    compare("model", model, other.model);
    compare("model_format", model_format, other.model_format);
    compare("checkpoint_sha256", checkpoint_sha256, other.checkpoint_sha256);
    compare("layers", joined(layers), joined(other.layers));
    compare("layer_reduction", layer_reduction, other.layer_reduction);
    compare("pooling", pooling, other.pooling);
    compare("max_length", std::to_string(max_length), std::to_string(other.max_length));
    compare("long_policy", long_policy, other.long_policy);
    compare("dtype", dtype, other.dtype);
    compare("groups", groups, other.groups);
    compare("storage_dtype", storage_dtype, other.storage_dtype);
    compare("input_digest", input_digest, other.input_digest);
    compare("input_proteins", std::to_string(input_proteins), std::to_string(other.input_proteins));
    compare("shards", std::to_string(shards), std::to_string(other.shards));
    return out;
}

void RunAttributes::write(hid_t object) const {
    h5::write_attribute(object, "model", model);
    h5::write_attribute(object, "model_family", model_family);
    h5::write_attribute(object, "model_format", model_format);
    h5::write_attribute(object, "checkpoint", checkpoint);
    h5::write_attribute(object, "checkpoint_sha256", checkpoint_sha256);
    h5::write_attribute(object, "layers", layers);
    h5::write_attribute(object, "layer_reduction", layer_reduction);
    h5::write_attribute(object, "pooling", pooling);
    h5::write_attribute(object, "embedding_dim", embedding_dim);
    h5::write_attribute(object, "max_length", max_length);
    h5::write_attribute(object, "long_policy", long_policy);
    h5::write_attribute(object, "dtype", dtype);
    h5::write_attribute(object, "groups", groups);
    h5::write_attribute(object, "storage_dtype", storage_dtype);
    h5::write_attribute(object, "compression", compression);
    h5::write_attribute(object, "input_digest", input_digest);
    h5::write_attribute(object, "input_proteins", input_proteins);
    h5::write_attribute(object, "shard", shard);
    h5::write_attribute(object, "shards", shards);
    h5::write_attribute(object, "tool_version", tool_version);
    h5::write_attribute(object, "command_line", command_line);
}

RunAttributes RunAttributes::read(hid_t object) {
    RunAttributes a;
    a.model = h5::read_string_attribute(object, "model");
    a.model_family = h5::read_string_attribute(object, "model_family");
    a.model_format = h5::read_string_attribute(object, "model_format");
    a.checkpoint = h5::read_string_attribute(object, "checkpoint");
    a.checkpoint_sha256 = h5::read_string_attribute(object, "checkpoint_sha256");
    a.layers = h5::read_int_array_attribute(object, "layers");
    a.layer_reduction = h5::read_string_attribute(object, "layer_reduction");
    a.pooling = h5::read_string_attribute(object, "pooling");
    a.embedding_dim = h5::read_int_attribute(object, "embedding_dim");
    a.max_length = h5::read_int_attribute(object, "max_length");
    a.long_policy = h5::read_string_attribute(object, "long_policy");
    // Files written before --dtype existed were computed in float32.
    a.dtype =
        h5::has_attribute(object, "dtype") ? h5::read_string_attribute(object, "dtype") : "float32";
    a.groups = h5::read_string_attribute(object, "groups");
    a.storage_dtype = h5::read_string_attribute(object, "storage_dtype");
    a.compression = h5::read_int_attribute(object, "compression");
    a.input_digest = h5::read_string_attribute(object, "input_digest");
    a.input_proteins = h5::read_int_attribute(object, "input_proteins");
    a.shard = h5::read_int_attribute(object, "shard");
    a.shards = h5::read_int_attribute(object, "shards");
    a.tool_version = h5::read_string_attribute(object, "tool_version");
    a.command_line = h5::read_string_attribute(object, "command_line");
    return a;
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
    : path_(path), storage_(storage), file_(create_output_file(path)) {
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
    attributes.write(file_.id());
    h5::write_attribute(file_.id(), "proteins", static_cast<int64_t>(proteins_));
    aliases_.close(path_.string() + ": close /" + kAliasGroup);
    for (Group& group : groups_) {
        group.handle.close(path_.string() + ": close /" + group.name);
    }
    file_.close(path_.string() + ": close");
}

}  // namespace embed
