#include "checkpoint/torch_file.h"

#include <stdexcept>
#include <unordered_map>

#include "base/errors.h"

namespace embed {
namespace {

// torch.save writes storages as persistent ids naming a legacy storage class.
std::optional<torch::Dtype> storage_dtype(const pickle::Global& g) {
    if (g.module != "torch") {
        return std::nullopt;
    }
    static const std::map<std::string, torch::Dtype> kTypes = {
        {"FloatStorage", torch::kFloat32},     {"HalfStorage", torch::kFloat16},
        {"BFloat16Storage", torch::kBFloat16}, {"DoubleStorage", torch::kFloat64},
        {"LongStorage", torch::kInt64},        {"IntStorage", torch::kInt32},
        {"ShortStorage", torch::kInt16},       {"CharStorage", torch::kInt8},
        {"ByteStorage", torch::kUInt8},        {"BoolStorage", torch::kBool},
    };
    const auto it = kTypes.find(g.name);
    return it == kTypes.end() ? std::nullopt : std::optional<torch::Dtype>(it->second);
}

int64_t checked_multiply(int64_t a, int64_t b, const std::string& source) {
    int64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product)) {
        throw FileError(Location{source}, "tensor size overflows");
    }
    return product;
}

std::vector<int64_t> int_list(const pickle::Value& v) {
    std::vector<int64_t> out;
    for (const pickle::Value& item : v.as_list().items) {
        out.push_back(item.as_int());
    }
    return out;
}

// Where a view reaches in its storage, in elements.
struct Extent {
    int64_t numel;
    int64_t last_index;
    bool contiguous;
};

// Throws naming `source` unless the view lies within its storage.
Extent extent_of(const TorchStorage& storage, const pickle::TensorView& view,
                 const std::string& source) {
    const std::vector<int64_t>& sizes = view.sizes;
    const std::vector<int64_t>& strides = view.strides;
    const int64_t storage_offset = view.storage_offset;
    if (sizes.size() != strides.size()) {
        throw FileError(Location{source}, "tensor with " + std::to_string(sizes.size()) +
                                              " sizes but " + std::to_string(strides.size()) +
                                              " strides");
    }
    int64_t numel = 1;
    int64_t last_index = storage_offset;
    bool contiguous = true;
    int64_t expected_stride = 1;
    for (size_t d = sizes.size(); d-- > 0;) {
        if (sizes[d] < 0 || strides[d] < 0) {
            throw FileError(Location{source}, "tensor with a negative size or stride");
        }
        numel = checked_multiply(numel, sizes[d], source);
        if (sizes[d] > 0 &&
            __builtin_add_overflow(last_index, checked_multiply(sizes[d] - 1, strides[d], source),
                                   &last_index)) {
            throw FileError(Location{source}, "tensor size overflows");
        }
        if (sizes[d] != 1 && strides[d] != expected_stride) {
            contiguous = false;
        }
        expected_stride *= sizes[d];
    }
    if (storage_offset < 0 || (numel > 0 && static_cast<uint64_t>(last_index) >= storage.numel)) {
        throw FileError(Location{source}, "tensor " + shape_string(sizes) +
                                              " reaches past its storage of " +
                                              std::to_string(storage.numel) + " elements");
    }
    return {numel, last_index, contiguous};
}

StoredTensor rebuild_tensor(const TorchStorage& storage, const pickle::TensorView& view,
                            const std::string& source) {
    const Extent extent = extent_of(storage, view, source);
    const int64_t numel = extent.numel;
    const int64_t last_index = extent.last_index;
    const bool contiguous = extent.contiguous;
    const std::vector<int64_t>& sizes = view.sizes;
    const std::vector<int64_t>& strides = view.strides;
    const int64_t storage_offset = view.storage_offset;
    const auto element_size = static_cast<uint64_t>(c10::elementSize(storage.dtype));
    // Where the tensor's first element is in the file.
    const uint64_t start = storage.offset + static_cast<uint64_t>(storage_offset) * element_size;
    auto read = [storage, storage_offset, sizes, strides, numel, last_index, contiguous,
                 element_size, start](const torch::Tensor& destination) {
        if (numel == 0) {
            return;
        }
        if (contiguous) {
            storage.file->read_at(start, destination.data_ptr(),
                                  static_cast<size_t>(numel) * element_size);
            return;
        }
        const int64_t span = last_index - storage_offset + 1;
        torch::Tensor flat = torch::empty({span}, torch::TensorOptions().dtype(storage.dtype));
        storage.file->read_at(start, flat.data_ptr(), static_cast<size_t>(span) * element_size);
        destination.copy_(flat.as_strided(sizes, strides, 0));
    };
    StoredTensor::Mapper map;
    if (contiguous) {
        map = [file = storage.file, start, sizes, dtype = storage.dtype] {
            return map_tensor(file, start, sizes, dtype);
        };
    }
    return StoredTensor(sizes, storage.dtype, std::move(read), std::move(map));
}

// "<archive name>/" when the archive holds "<archive name>/data.pkl", as torch.save writes it.
std::optional<std::string> pickle_prefix(const ZipArchive& archive) {
    for (const auto& [name, member] : archive.members()) {
        const size_t slash = name.find('/');
        if (slash != std::string::npos &&
            name.compare(slash + 1, std::string::npos, "data.pkl") == 0) {
            return name.substr(0, slash + 1);
        }
    }
    return std::nullopt;
}

}  // namespace

bool TorchFile::recognizes(const std::filesystem::path& path) {
    if (!std::filesystem::is_regular_file(path)) {
        return false;
    }
    std::shared_ptr<ReadOnlyFile> file = ReadOnlyFile::open(path);
    return ZipArchive::looks_like_zip(*file) && pickle_prefix(ZipArchive(file)).has_value();
}

TorchFile::TorchFile(const std::filesystem::path& path) : path_(path) {
    const std::string source = path.string();
    std::shared_ptr<ReadOnlyFile> file = ReadOnlyFile::open(path);
    if (!ZipArchive::looks_like_zip(*file)) {
        throw FileError(
            Location{source},
            "not a torch.save zip archive (PyTorch >= 1.6 format). If it is an older "
            "checkpoint, re-save it with torch.save(torch.load(f), f) in a recent PyTorch");
    }
    archive_ = std::make_unique<ZipArchive>(file);

    const std::optional<std::string> found_prefix = pickle_prefix(*archive_);
    if (!found_prefix) {
        throw FileError(Location{source}, "zip archive without data.pkl; not a torch.save file");
    }
    const std::string& prefix = *found_prefix;
    if (archive_->members().count(prefix + "byteorder") != 0 &&
        archive_->read(prefix + "byteorder") != "little") {
        throw FileError(Location{source}, "big-endian checkpoints are not supported");
    }

    pickle::Hooks hooks;
    hooks.persistent_load = [&](const pickle::Value& pid) -> pickle::Value {
        // ('storage', storage class, key, location, numel)
        const auto& fields = pid.as_list().items;
        if (fields.size() < 5 || !fields[0].is<std::string>() ||
            fields[0].as_string() != "storage" || !fields[1].is<pickle::Global>()) {
            throw FileError(Location{source}, "unknown persistent id " + pid.kind_name());
        }
        const auto& cls = *fields[1].get_if<pickle::Global>();
        const std::optional<torch::Dtype> dtype = storage_dtype(cls);
        if (!dtype) {
            throw FileError(Location{source}, "unsupported storage type " + cls.qualified());
        }
        const ZipArchive::Member& m = archive_->member(prefix + "data/" + fields[2].as_string());
        const int64_t numel = fields[4].as_int();
        const auto element_size = static_cast<uint64_t>(c10::elementSize(*dtype));
        if (numel < 0 || static_cast<uint64_t>(numel) > m.size / element_size) {
            throw FileError(Location{source}, "storage " + fields[2].as_string() + " claims " +
                                                  std::to_string(numel) + " elements but holds " +
                                                  std::to_string(m.size) + " bytes");
        }
        pickle::Object* placeholder = document_.new_object(cls);
        storages_.emplace(placeholder,
                          TorchStorage{file, m.data_offset, static_cast<uint64_t>(numel), *dtype});
        return placeholder;
    };
    hooks.reduce = [&](pickle::Document&, const pickle::Global& g,
                       const std::vector<pickle::Value>& args) -> std::optional<pickle::Value> {
        const std::string q = g.qualified();
        if (q == "torch._utils._rebuild_tensor_v2" || q == "torch._utils._rebuild_tensor") {
            const pickle::Object* const* storage =
                args.empty() ? nullptr : args[0].get_if<pickle::Object*>();
            const auto found = storage != nullptr ? storages_.find(*storage) : storages_.end();
            if (args.size() < 4 || found == storages_.end()) {
                throw FileError(Location{source}, "malformed " + q + " call");
            }
            pickle::TensorView view{*storage, args[1].as_int(), int_list(args[2]),
                                    int_list(args[3])};
            extent_of(found->second, view, source);  // a bad view is an error of the file
            return pickle::Value(std::move(view));
        }
        if (q == "torch._utils._rebuild_parameter" ||
            q == "torch._utils._rebuild_parameter_with_state") {
            if (args.empty() || !args[0].is<pickle::TensorView>()) {
                throw FileError(Location{source}, "malformed " + q + " call");
            }
            return args[0];
        }
        return std::nullopt;
    };

    const std::string pickled = archive_->read(prefix + "data.pkl");
    pickle::unpickle(pickled, hooks, source, document_);
}

StateDict TorchFile::state_dict(const pickle::Value& dict) const {
    StateDict out(path_.string());
    const pickle::Dict* items = nullptr;
    if (dict.is<pickle::Dict*>()) {
        items = &dict.as_dict();
    } else if (dict.is<pickle::Object*>()) {
        items = &dict.as_object().items;
    } else {
        throw FileError(Location{path_.string()},
                        "expected a state dict, found " + dict.kind_name());
    }
    for (const auto& [key, value] : items->items) {
        if (!key.is<std::string>() || !value.is<pickle::TensorView>()) {
            throw FileError(Location{path_.string()}, "state dict entry " + key.kind_name() +
                                                          " -> " + value.kind_name() +
                                                          " is not name -> tensor");
        }
        const pickle::TensorView& view = value.as_tensor();
        out.add(key.as_string(), rebuild_tensor(storages_.at(view.storage), view, path_.string()));
    }
    return out;
}

}  // namespace embed
