// A thin RAII layer over the HDF5 C API: handles that close themselves, errors that throw with
// HDF5's own reason, and the few attribute and dataset operations the tool needs.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <hdf5.h>

namespace embed::h5 {

/// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
public:
    using Closer = herr_t (*)(hid_t);
    Handle() = default;
    /// Throws std::runtime_error with `what` and HDF5's reason when `id` is negative.
    Handle(hid_t id, Closer closer, const std::string& what);
    ~Handle();
    Handle(Handle&& other) noexcept;
    Handle& operator=(Handle&& other) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;

    hid_t id() const { return id_; }
    /// Closes now, reporting failure (a destructor cannot).
    void close(const std::string& what);

private:
    hid_t id_ = H5I_INVALID_HID;
    Closer closer_ = nullptr;
};

/// Held by a thread other than the main one while it calls libhdf5, and around fork(). Debian's
/// libhdf5 is built thread-safe, with one global lock: a process forked while another thread
/// is inside the library (holding that lock) could never call it.
std::mutex& calls_mutex();

/// Turns off HDF5's printing of error stacks; errors surface as exceptions instead.
void silence_library_errors();

/// Throws std::runtime_error with `what` and HDF5's innermost error message when `status` < 0.
void check(herr_t status, const std::string& what);

Handle open_file(const std::string& path, unsigned flags = H5F_ACC_RDONLY);
Handle open_group(hid_t location, const std::string& name);
Handle open_dataset(hid_t location, const std::string& name);

void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, int64_t value);
void write_attribute(hid_t object, const std::string& name, const std::vector<int64_t>& values);

bool has_attribute(hid_t object, const std::string& name);
std::string read_string_attribute(hid_t object, const std::string& name);
int64_t read_int_attribute(hid_t object, const std::string& name);
std::vector<int64_t> read_int_array_attribute(hid_t object, const std::string& name);

/// Creates a float32 dataset of `shape` and writes `data` (row-major, shape's element count).
Handle write_float_dataset(hid_t location, const std::string& name,
                           const std::vector<hsize_t>& shape, const float* data);

struct FloatArray {
    std::vector<hsize_t> shape;
    std::vector<float> values;
};
FloatArray read_float_dataset(hid_t location, const std::string& name);

/// Throws std::runtime_error unless `name` in `location` is a hard link: soft, external and
/// user-defined links lead elsewhere, an external link into any file the reader may read.
void require_hard_link(hid_t location, const std::string& name);

/// Names of a group's members, in creation order when the group tracks it, else by name.
std::vector<std::string> member_names(hid_t group);

}  // namespace embed::h5
