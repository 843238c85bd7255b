#include "embed/hdf5_writer.h"

#include <algorithm>
#include <stdexcept>

namespace embed {
namespace {

// Datasets are written here first and linked into their groups in input order; the group
// is empty and removed when the file is complete.
constexpr const char* kStagingGroup = "_staging";
constexpr const char* kPerResidueGroup = "per_residue";
constexpr const char* kPerProteinGroup = "per_protein";
constexpr const char* kContactsGroup = "contacts";

std::string staged_name(size_t index, const char* group) {
    return std::string(group) + "_" + std::to_string(index);
}

h5::Handle create_group(hid_t file, const std::string& name, bool track_order) {
    const h5::Handle properties(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "group properties");
    if (track_order) {
        h5::check(H5Pset_link_creation_order(properties.id(),
                                             H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
                  "group properties");
    }
    return h5::Handle(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, properties.id(), H5P_DEFAULT),
                      H5Gclose, "create group /" + name);
}

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

h5::Handle write_tensor(hid_t location, const std::string& name, const torch::Tensor& tensor) {
    const torch::Tensor data = tensor.to(torch::kFloat32).contiguous();
    std::vector<hsize_t> shape;
    for (const int64_t d : data.sizes()) {
        shape.push_back(static_cast<hsize_t>(d));
    }
    return h5::write_float_dataset(location, name, shape, data.data_ptr<float>());
}

void write_protein_attributes(hid_t dataset, const ProteinEmbedding& protein) {
    h5::write_attribute(dataset, "original_id", protein.original_id);
    h5::write_attribute(dataset, "description", protein.description);
    h5::write_attribute(dataset, "length", protein.length);
    if (protein.original_length != protein.length) {
        h5::write_attribute(dataset, "original_length", protein.original_length);
    }
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

Hdf5Writer::Hdf5Writer(const std::filesystem::path& path, OutputGroups groups) : path_(path) {
    h5::silence_library_errors();
    const h5::Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file properties");
    // Groups in the compact/dense format of HDF5 1.8+, which scales to millions of members.
    h5::check(H5Pset_libver_bounds(access.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
              "file properties");
    file_ = h5::Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.id()), H5Fclose,
                       path.string() + ": cannot create");
    staging_ = create_group(file_.id(), kStagingGroup, false);
    const Group candidates[] = {{kPerResidueGroup, per_residue, {}},
                                {kPerProteinGroup, per_protein, {}},
                                {kContactsGroup, contacts, {}}};
    const bool wanted[] = {groups.per_residue, groups.per_protein, groups.contacts};
    for (size_t i = 0; i < std::size(candidates); ++i) {
        if (wanted[i]) {
            groups_.push_back(Group{candidates[i].name, candidates[i].data,
                                    create_group(file_.id(), candidates[i].name, true)});
        }
    }
}

Hdf5Writer::~Hdf5Writer() = default;

void Hdf5Writer::write(size_t index, const ProteinEmbedding& protein) {
    if (index < next_to_publish_ || waiting_.count(index) != 0) {
        throw std::logic_error("protein " + std::to_string(index) + " written twice");
    }
    const std::string where = path_.string() + ": protein '" + protein.original_id + "'";
    try {
        for (const Group& group : groups_) {
            const h5::Handle dataset =
                write_tensor(staging_.id(), staged_name(index, group.name), group.data(protein));
            write_protein_attributes(dataset.id(), protein);
        }
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(where + ": " + e.what());
    }
    waiting_.emplace(index, protein.key);
    publish_ready();
}

void Hdf5Writer::publish_ready() {
    for (auto it = waiting_.find(next_to_publish_); it != waiting_.end();
         it = waiting_.find(next_to_publish_)) {
        for (const Group& group : groups_) {
            h5::check(H5Lmove(staging_.id(), staged_name(it->first, group.name).c_str(),
                              group.handle.id(), it->second.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      path_.string() + ": link /" + group.name + "/" + it->second);
        }
        waiting_.erase(it);
        ++next_to_publish_;
    }
}

void Hdf5Writer::finish(const RunAttributes& attributes) {
    if (!waiting_.empty()) {
        throw std::logic_error(path_.string() + ": protein " + std::to_string(next_to_publish_) +
                               " was never written");
    }
    const hid_t root = file_.id();
    h5::write_attribute(root, "model", attributes.model);
    h5::write_attribute(root, "model_family", attributes.model_family);
    h5::write_attribute(root, "model_format", attributes.model_format);
    h5::write_attribute(root, "checkpoint", attributes.checkpoint);
    h5::write_attribute(root, "checkpoint_sha256", attributes.checkpoint_sha256);
    h5::write_attribute(root, "layers", attributes.layers);
    h5::write_attribute(root, "layer_reduction", attributes.layer_reduction);
    h5::write_attribute(root, "pooling", attributes.pooling);
    h5::write_attribute(root, "embedding_dim", attributes.embedding_dim);
    h5::write_attribute(root, "max_length", attributes.max_length);
    h5::write_attribute(root, "tool_version", attributes.tool_version);
    h5::write_attribute(root, "command_line", attributes.command_line);
    h5::write_attribute(root, "proteins", static_cast<int64_t>(next_to_publish_));

    staging_.close(path_.string() + ": close staging group");
    h5::check(H5Ldelete(root, kStagingGroup, H5P_DEFAULT), path_.string() + ": remove staging");
    for (Group& group : groups_) {
        group.handle.close(path_.string() + ": close /" + group.name);
    }
    file_.close(path_.string() + ": close");
}

}  // namespace embed
