#include "base/hdf5.h"

#include <stdexcept>

namespace embed::h5 {
namespace {

// No attribute this tool reads holds more integers (a list of layers at most).
constexpr hssize_t kMaxAttributeValues = 1 << 16;

std::string innermost_error() {
    std::string message;
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
            auto* text = static_cast<std::string*>(out);
            if (text->empty() && error->desc != nullptr) {
                *text = error->desc;
            }
            return 0;
        },
        &message);
    H5Eclear2(H5E_DEFAULT);
    return message.empty() ? "unknown HDF5 error" : message;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + innermost_error());
}

Handle string_type() {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
    check(H5Tset_size(type.id(), H5T_VARIABLE), "string type");
    check(H5Tset_cset(type.id(), H5T_CSET_UTF8), "string type");
    return type;
}

Handle scalar_space() {
    return Handle(H5Screate(H5S_SCALAR), H5Sclose, "dataspace");
}

Handle simple_space(const std::vector<hsize_t>& shape) {
    return Handle(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), H5Sclose,
                  "dataspace");
}

Handle create_attribute(hid_t object, const std::string& name, hid_t type, hid_t space) {
    if (H5Aexists(object, name.c_str()) > 0) {
        check(H5Adelete(object, name.c_str()), "replace attribute " + name);
    }
    return Handle(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                  "create attribute " + name);
}

Handle open_attribute(hid_t object, const std::string& name) {
    return Handle(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "attribute " + name);
}

}  // namespace

Handle::Handle(hid_t id, Closer closer, const std::string& what) : id_(id), closer_(closer) {
    if (id < 0) {
        fail(what);
    }
}

Handle::~Handle() {
    if (id_ >= 0 && closer_ != nullptr) {
        closer_(id_);
    }
}

Handle::Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) {
    other.id_ = H5I_INVALID_HID;
}

Handle& Handle::operator=(Handle&& other) noexcept {
    if (this != &other) {
        if (id_ >= 0 && closer_ != nullptr) {
            closer_(id_);
        }
        id_ = other.id_;
        closer_ = other.closer_;
        other.id_ = H5I_INVALID_HID;
    }
    return *this;
}

void Handle::close(const std::string& what) {
    if (id_ >= 0) {
        const herr_t status = closer_(id_);
        id_ = H5I_INVALID_HID;
        check(status, what);
    }
}

std::mutex& calls_mutex() {
    static std::mutex mutex;
    return mutex;
}

void silence_library_errors() {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

void check(herr_t status, const std::string& what) {
    if (status < 0) {
        fail(what);
    }
}

Handle open_file(const std::string& path, unsigned flags) {
    return Handle(H5Fopen(path.c_str(), flags, H5P_DEFAULT), H5Fclose, path + ": cannot open");
}

Handle open_group(hid_t location, const std::string& name) {
    return Handle(H5Gopen2(location, name.c_str(), H5P_DEFAULT), H5Gclose, "group " + name);
}

Handle open_dataset(hid_t location, const std::string& name) {
    return Handle(H5Dopen2(location, name.c_str(), H5P_DEFAULT), H5Dclose, "dataset " + name);
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
    const Handle type = string_type();
    const Handle space = scalar_space();
    const Handle attribute = create_attribute(object, name, type.id(), space.id());
    const char* text = value.c_str();
    check(H5Awrite(attribute.id(), type.id(), &text), "write attribute " + name);
}

void write_attribute(hid_t object, const std::string& name, int64_t value) {
    const Handle space = scalar_space();
    const Handle attribute = create_attribute(object, name, H5T_STD_I64LE, space.id());
    check(H5Awrite(attribute.id(), H5T_NATIVE_INT64, &value), "write attribute " + name);
}

void write_attribute(hid_t object, const std::string& name, const std::vector<int64_t>& values) {
    const Handle space = simple_space({values.size()});
    const Handle attribute = create_attribute(object, name, H5T_STD_I64LE, space.id());
    check(H5Awrite(attribute.id(), H5T_NATIVE_INT64, values.data()), "write attribute " + name);
}

bool has_attribute(hid_t object, const std::string& name) {
    return H5Aexists(object, name.c_str()) > 0;
}

std::string read_string_attribute(hid_t object, const std::string& name) {
    const Handle attribute = open_attribute(object, name);
    const Handle stored(H5Aget_type(attribute.id()), H5Tclose, "attribute type " + name);
    if (H5Tget_class(stored.id()) != H5T_STRING) {
        throw std::runtime_error("attribute " + name + " is not a string");
    }
    if (H5Tis_variable_str(stored.id()) > 0) {
        const Handle type = string_type();
        char* text = nullptr;
        check(H5Aread(attribute.id(), type.id(), &text), "read attribute " + name);
        std::string out = text != nullptr ? text : "";
        H5free_memory(text);
        return out;
    }
    std::string out(H5Tget_size(stored.id()), '\0');
    check(H5Aread(attribute.id(), stored.id(), out.data()), "read attribute " + name);
    return out.substr(0, out.find('\0'));
}

int64_t read_int_attribute(hid_t object, const std::string& name) {
    const std::vector<int64_t> values = read_int_array_attribute(object, name);
    if (values.size() != 1) {
        throw std::runtime_error("attribute " + name + " is not a single integer");
    }
    return values[0];
}

std::vector<int64_t> read_int_array_attribute(hid_t object, const std::string& name) {
    const Handle attribute = open_attribute(object, name);
    const Handle stored(H5Aget_type(attribute.id()), H5Tclose, "attribute type " + name);
    if (H5Tget_class(stored.id()) != H5T_INTEGER) {
        // HDF5 would convert a float, clipping and rounding it without a word.
        throw std::runtime_error("attribute " + name + " is not an integer");
    }
    const Handle space(H5Aget_space(attribute.id()), H5Sclose, "attribute space " + name);
    const hssize_t count = H5Sget_simple_extent_npoints(space.id());
    if (count < 0 || count > kMaxAttributeValues) {
        throw std::runtime_error("attribute " + name + " holds " + std::to_string(count) +
                                 " values, more than the " + std::to_string(kMaxAttributeValues) +
                                 " expected");
    }
    std::vector<int64_t> values(static_cast<size_t>(count));
    check(H5Aread(attribute.id(), H5T_NATIVE_INT64, values.data()), "read attribute " + name);
    return values;
}

Handle write_float_dataset(hid_t location, const std::string& name,
                           const std::vector<hsize_t>& shape, const float* data) {
    const Handle space = simple_space(shape);
    Handle dataset(H5Dcreate2(location, name.c_str(), H5T_IEEE_F32LE, space.id(), H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT),
                   H5Dclose, "create dataset " + name);
    check(H5Dwrite(dataset.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
          "write dataset " + name);
    return dataset;
}

FloatArray read_float_dataset(hid_t location, const std::string& name) {
    const Handle dataset = open_dataset(location, name);
    const Handle space(H5Dget_space(dataset.id()), H5Sclose, "dataspace of " + name);
    const int rank = H5Sget_simple_extent_ndims(space.id());
    FloatArray out;
    out.shape.resize(static_cast<size_t>(rank < 0 ? 0 : rank));
    H5Sget_simple_extent_dims(space.id(), out.shape.data(), nullptr);
    out.values.resize(static_cast<size_t>(H5Sget_simple_extent_npoints(space.id())));
    check(H5Dread(dataset.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()),
          "read dataset " + name);
    return out;
}

void require_hard_link(hid_t location, const std::string& name) {
    H5L_info_t info{};
    check(H5Lget_info(location, name.c_str(), &info, H5P_DEFAULT), "link " + name);
    if (info.type != H5L_TYPE_HARD) {
        const char* kind = info.type == H5L_TYPE_SOFT       ? "a soft link"
                           : info.type == H5L_TYPE_EXTERNAL ? "an external link"
                                                            : "a user-defined link";
        throw std::runtime_error("'" + name + "' is " + kind +
                                 ", not an object of the file itself: links are not followed");
    }
}

std::vector<std::string> member_names(hid_t group) {
    H5G_info_t info{};
    check(H5Gget_info(group, &info), "group info");
    unsigned tracked = 0;
    const Handle properties(H5Gget_create_plist(group), H5Pclose, "group properties");
    check(H5Pget_link_creation_order(properties.id(), &tracked), "group properties");
    const H5_index_t index =
        (tracked & H5P_CRT_ORDER_INDEXED) != 0 ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        const ssize_t size =
            H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (size < 0) {
            fail("member name");
        }
        std::string name(static_cast<size_t>(size) + 1, '\0');
        H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT);
        name.resize(static_cast<size_t>(size));
        names.push_back(std::move(name));
    }
    return names;
}

}  // namespace embed::h5
