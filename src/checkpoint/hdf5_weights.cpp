#include "embed/checkpoint/hdf5_weights.h"

#include <limits>
#include <memory>
#include <stdexcept>

#include "embed/util/hdf5.h"

namespace embed {
namespace {

// Weights files are a few groups deep; a deeper walk is a hard-link cycle in a damaged file.
constexpr int kMaxDepth = 32;
// And hold tens of objects (SeqVec: 30 datasets). Two hard links back to a parent double the
// walk at every level, so the depth limit alone would allow 2^32 visits.
constexpr size_t kMaxObjects = 1 << 16;

struct Walk {
    const std::string& source;
    StateDict& out;
    size_t objects = 0;
};

// The h5:: helpers name the object and HDF5's reason, not the file.
[[noreturn]] void rethrow_naming(const std::string& source, const std::runtime_error& e) {
    const std::string what = e.what();
    throw std::runtime_error(what.rfind(source, 0) == 0 ? what : source + ": " + what);
}

// Adds the datasets under `group` (recursively) to `walk.out`. Walks with plain open/inspect
// calls, which mean the same in every HDF5 release, unlike the versioned visit APIs. Only hard
// links are followed: a soft or external link could name another file or loop.
void add_datasets(const std::shared_ptr<h5::Handle>& file, hid_t group, const std::string& prefix,
                  Walk& walk, int depth = 0) {
    const std::string& source = walk.source;
    if (depth > kMaxDepth) {
        throw std::runtime_error(source + ": groups nested deeper than " +
                                 std::to_string(kMaxDepth) + " at " + prefix);
    }
    for (const std::string& name : h5::member_names(group)) {
        const std::string path = prefix + name;
        if (++walk.objects > kMaxObjects) {
            throw std::runtime_error(source + ": more than " + std::to_string(kMaxObjects) +
                                     " objects (hard links back to a group?) at " + path);
        }
        H5L_info_t link{};
        h5::check(H5Lget_info(group, name.c_str(), &link, H5P_DEFAULT), source + ": link " + path);
        if (link.type != H5L_TYPE_HARD) {
            throw std::runtime_error(source + ": " + path +
                                     " is a soft or external link; weights files hold none");
        }
        const h5::Handle object(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose,
                                source + ": open " + path);
        const H5I_type_t type = H5Iget_type(object.id());
        if (type == H5I_GROUP) {
            add_datasets(file, object.id(), path + "/", walk, depth + 1);
            continue;
        }
        if (type != H5I_DATASET) {
            continue;
        }
        const h5::Handle stored_type(H5Dget_type(object.id()), H5Tclose, "dataset type");
        if (H5Tget_class(stored_type.id()) != H5T_FLOAT) {
            throw std::runtime_error(source + ": dataset " + path + " is not floating point");
        }
        // libhdf5 converts through a buffer of the stored values' size: a damaged type claiming
        // 4 GB values would have it allocate that much per value read.
        if (const size_t value_size = H5Tget_size(stored_type.id());
            value_size != 2 && value_size != 4 && value_size != 8) {
            throw std::runtime_error(source + ": dataset " + path + " holds " +
                                     std::to_string(value_size) +
                                     "-byte floating-point values; weights are 2, 4 or 8 bytes");
        }
        const h5::Handle space(H5Dget_space(object.id()), H5Sclose, "dataspace");
        const int rank = H5Sget_simple_extent_ndims(space.id());
        // A null dataspace has rank 0 like a scalar, but no value to read.
        if (rank < 0 || H5Sget_simple_extent_type(space.id()) == H5S_NULL) {
            throw std::runtime_error(source + ": dataset " + path + " has no readable shape");
        }
        std::vector<hsize_t> dims(static_cast<size_t>(rank));
        H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
        std::vector<int64_t> shape;
        for (const hsize_t size : dims) {
            if (size > static_cast<hsize_t>(std::numeric_limits<int64_t>::max())) {
                throw std::runtime_error(source + ": dataset " + path + " has a size of " +
                                         std::to_string(size));
            }
            shape.push_back(static_cast<int64_t>(size));
        }
        auto read = [file, path, shape, source] {
            torch::Tensor t = torch::empty(shape, torch::kFloat32);
            try {
                const h5::Handle dataset = h5::open_dataset(file->id(), path);
                h5::check(H5Dread(dataset.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                  t.data_ptr()),
                          "read " + path);
            } catch (const std::runtime_error& e) {
                rethrow_naming(source, e);
            }
            return t;
        };
        walk.out.add(path, StoredTensor(shape, torch::kFloat32, std::move(read)));
    }
}

}  // namespace

StateDict read_hdf5_weights(const std::filesystem::path& path) {
    h5::silence_library_errors();
    const std::string source = path.string();
    auto file = std::make_shared<h5::Handle>(h5::open_file(source));
    StateDict out(source);
    try {
        const h5::Handle root = h5::open_group(file->id(), "/");
        Walk walk{source, out};
        add_datasets(file, root.id(), "", walk);
    } catch (const std::runtime_error& e) {
        rethrow_naming(source, e);
    }
    return out;
}

}  // namespace embed
