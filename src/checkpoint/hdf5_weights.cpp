#include "checkpoint/hdf5_weights.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/hdf5.h"
#include "base/isolated.h"

// libhdf5 (1.10.8, as Debian 12 ships it, and h5py with it) crashes on some damaged files
// instead of failing cleanly. So a child process walks the file and copies every dataset, as
// float32, into an anonymous memory file; this process maps that and never parses the file
// itself. A damaged file costs an error message naming it, not the run.

namespace embed {
namespace {

// Weights files are a few groups deep; a deeper walk is a hard-link cycle in a damaged file.
constexpr int kMaxDepth = 32;
// And hold tens of objects (SeqVec: 30 datasets). Two hard links back to a parent double the
// walk at every level, so the depth limit alone would allow 2^32 visits.
constexpr size_t kMaxObjects = 1 << 16;
// Values per byte of the file, at most: weights compress little, so datasets claiming much
// more than the file holds are damaged metadata, not worth the memory they would take.
constexpr uint64_t kMaxExpansion = 64;
// Datasets start at this alignment in the memory file (any vector load is aligned).
constexpr uint64_t kAlignment = 64;

struct Dataset {
    std::string path;
    std::vector<int64_t> shape;
    uint64_t offset = 0;  // in the memory file
};

struct Walk {
    std::vector<Dataset> datasets;
    size_t objects = 0;
};

// The shape of the floating-point dataset `object` at `path`.
std::vector<int64_t> float_dataset_shape(hid_t object, const std::string& path) {
    const h5::Handle stored_type(H5Dget_type(object), H5Tclose, "dataset type");
    if (H5Tget_class(stored_type.id()) != H5T_FLOAT) {
        throw std::runtime_error("dataset " + path + " is not floating point");
    }
    // libhdf5 converts through a buffer of the stored values' size: a damaged type claiming
    // 4 GB values would have it allocate that much per value read.
    if (const size_t value_size = H5Tget_size(stored_type.id());
        value_size != 2 && value_size != 4 && value_size != 8) {
        throw std::runtime_error("dataset " + path + " holds " + std::to_string(value_size) +
                                 "-byte floating-point values; weights are 2, 4 or 8 bytes");
    }
    const h5::Handle space(H5Dget_space(object), H5Sclose, "dataspace");
    const int rank = H5Sget_simple_extent_ndims(space.id());
    // A null dataspace has rank 0 like a scalar, but no value to read.
    if (rank < 0 || H5Sget_simple_extent_type(space.id()) == H5S_NULL) {
        throw std::runtime_error("dataset " + path + " has no readable shape");
    }
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    std::vector<int64_t> shape;
    for (const hsize_t size : dims) {
        if (size > static_cast<hsize_t>(std::numeric_limits<int64_t>::max())) {
            throw std::runtime_error("dataset " + path + " has a size of " + std::to_string(size));
        }
        shape.push_back(static_cast<int64_t>(size));
    }
    return shape;
}

// Adds the datasets under `group` (recursively) to `walk`. Walks with plain open/inspect
// calls, which mean the same in every HDF5 release, unlike the versioned visit APIs. Only hard
// links are followed: a soft or external link could name another file or loop.
void find_datasets(hid_t group, const std::string& prefix, Walk& walk, int depth = 0) {
    if (depth > kMaxDepth) {
        throw std::runtime_error("groups nested deeper than " + std::to_string(kMaxDepth) + " at " +
                                 prefix);
    }
    for (const std::string& name : h5::member_names(group)) {
        const std::string path = prefix + name;
        if (++walk.objects > kMaxObjects) {
            throw std::runtime_error("more than " + std::to_string(kMaxObjects) +
                                     " objects (hard links back to a group?) at " + path);
        }
        H5L_info_t link{};
        h5::check(H5Lget_info(group, name.c_str(), &link, H5P_DEFAULT), "link " + path);
        if (link.type != H5L_TYPE_HARD) {
            throw std::runtime_error(path + " is a soft or external link; weights files hold none");
        }
        const h5::Handle object(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose,
                                "open " + path);
        const H5I_type_t type = H5Iget_type(object.id());
        if (type == H5I_GROUP) {
            find_datasets(object.id(), path + "/", walk, depth + 1);
        } else if (type == H5I_DATASET) {
            walk.datasets.push_back({path, float_dataset_shape(object.id(), path)});
        }
    }
}

// Bytes of float32 values of `shape`, or more than `limit` when that is more.
uint64_t float_bytes(const std::vector<int64_t>& shape, uint64_t limit) {
    for (const int64_t size : shape) {
        if (size == 0) {
            return 0;
        }
    }
    uint64_t bytes = sizeof(float);
    for (const int64_t size : shape) {
        if (bytes > limit / static_cast<uint64_t>(size)) {
            return limit + 1;
        }
        bytes *= static_cast<uint64_t>(size);
    }
    return bytes;
}

// Places the datasets one after the other in the memory file; returns its size.
uint64_t lay_out(std::vector<Dataset>& datasets, uint64_t limit) {
    uint64_t end = 0;
    for (Dataset& dataset : datasets) {
        dataset.offset = (end + kAlignment - 1) / kAlignment * kAlignment;
        const uint64_t bytes = float_bytes(dataset.shape, limit);
        if (bytes > limit || dataset.offset + bytes > limit) {
            throw std::runtime_error("dataset " + dataset.path + " takes the datasets past " +
                                     std::to_string(limit) + " bytes, " +
                                     std::to_string(kMaxExpansion) +
                                     " times the file's size: its shape is damaged");
        }
        end = dataset.offset + bytes;
    }
    return end;
}

void append_u64(std::string& out, uint64_t value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

uint64_t take_u64(const std::string& in, size_t& at) {
    if (in.size() - at < sizeof(uint64_t)) {
        throw std::logic_error("hdf5 weights: truncated list of datasets");
    }
    uint64_t value = 0;
    std::memcpy(&value, in.data() + at, sizeof value);
    at += sizeof value;
    return value;
}

// What the child tells: each dataset's path, shape and offset.
std::string encode(const std::vector<Dataset>& datasets) {
    std::string out;
    for (const Dataset& dataset : datasets) {
        append_u64(out, dataset.path.size());
        out += dataset.path;
        append_u64(out, dataset.shape.size());
        for (const int64_t size : dataset.shape) {
            append_u64(out, static_cast<uint64_t>(size));
        }
        append_u64(out, dataset.offset);
    }
    return out;
}

std::vector<Dataset> decode(const std::string& in) {
    std::vector<Dataset> datasets;
    size_t at = 0;
    while (at < in.size()) {
        Dataset dataset;
        const uint64_t length = take_u64(in, at);
        if (in.size() - at < length) {
            throw std::logic_error("hdf5 weights: truncated list of datasets");
        }
        dataset.path = in.substr(at, length);
        at += length;
        for (uint64_t rank = take_u64(in, at); rank > 0; --rank) {
            dataset.shape.push_back(static_cast<int64_t>(take_u64(in, at)));
        }
        dataset.offset = take_u64(in, at);
        datasets.push_back(std::move(dataset));
    }
    return datasets;
}

// In the child: every dataset of the file `source`, as float32, into `memory_fd`.
std::string copy_datasets(const std::string& source, int memory_fd, uint64_t file_size) {
    h5::silence_library_errors();
    Walk walk;
    const h5::Handle file = h5::open_file(source);
    try {
        const h5::Handle root = h5::open_group(file.id(), "/");
        find_datasets(root.id(), "", walk);
        const uint64_t size = lay_out(walk.datasets, kMaxExpansion * file_size);
        if (size == 0) {
            return encode(walk.datasets);
        }
        if (::ftruncate(memory_fd, static_cast<off_t>(size)) != 0) {
            throw std::runtime_error("no memory for " + std::to_string(size) + " bytes of weights");
        }
        void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memory_fd, 0);
        if (memory == MAP_FAILED) {
            throw std::runtime_error("cannot map " + std::to_string(size) + " bytes of weights");
        }
        for (const Dataset& dataset : walk.datasets) {
            const h5::Handle stored = h5::open_dataset(file.id(), dataset.path);
            h5::check(H5Dread(stored.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                              static_cast<char*>(memory) + dataset.offset),
                      "read " + dataset.path);
        }
    } catch (const std::runtime_error& e) {
        // The walk and the h5:: helpers name the object and HDF5's reason, not the file.
        throw FileError(Location{source}, e.what());
    }
    return encode(walk.datasets);
}

}  // namespace

StateDict read_hdf5_weights(const std::filesystem::path& path) {
    const std::string source = path.string();
    // Opening the file here first gives the plain errors (missing, unreadable) their usual
    // wording, and its size.
    const uint64_t file_size = ReadOnlyFile::open(path)->size();
    const int memory_fd = ::memfd_create("embed-weights", MFD_CLOEXEC);
    if (memory_fd < 0) {
        throw FileError(Location{source},
                        std::string("cannot create a memory file: ") + std::strerror(errno));
    }
    std::string answer;
    try {
        const std::lock_guard<std::mutex> lock(h5::calls_mutex());
        answer = run_isolated([&] { return copy_datasets(source, memory_fd, file_size); },
                              cpu_seconds_to_read(file_size));
    } catch (const ChildCrashed& e) {
        ::close(memory_fd);
        throw FileError(Location{source},
                        "libhdf5 " + std::string(e.what()) + " reading the file; it is damaged");
    } catch (...) {
        ::close(memory_fd);
        throw;
    }
    const std::shared_ptr<ReadOnlyFile> memory = ReadOnlyFile::adopt(memory_fd, source);
    StateDict out(source);
    for (Dataset& dataset : decode(answer)) {
        const uint64_t offset = dataset.offset;
        const std::vector<int64_t>& shape = dataset.shape;
        auto read = [memory, offset](const torch::Tensor& destination) {
            memory->read_at(offset, destination.data_ptr(), destination.nbytes());
        };
        auto map = [memory, offset, shape] {
            return map_tensor(memory, offset, shape, torch::kFloat32);
        };
        out.add(dataset.path,
                StoredTensor(shape, torch::kFloat32, std::move(read), std::move(map)));
    }
    return out;
}

}  // namespace embed
