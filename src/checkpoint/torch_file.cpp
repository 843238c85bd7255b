#include "checkpoint/torch_file.h"

#include <stdexcept>
#include <unordered_map>

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

// Bytes of one storage inside the archive.
struct StorageRef {
    std::shared_ptr<ReadOnlyFile> file;
    uint64_t offset;
    uint64_t numel;
    torch::Dtype dtype;
};

int64_t checked_multiply(int64_t a, int64_t b, const std::string& source) {
    int64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product)) {
        throw std::runtime_error(source + ": tensor size overflows");
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

StoredTensor rebuild_tensor(const StorageRef& storage, int64_t storage_offset,
                            std::vector<int64_t> sizes, std::vector<int64_t> strides,
                            const std::string& source) {
    if (sizes.size() != strides.size()) {
        throw std::runtime_error(source + ": tensor with " + std::to_string(sizes.size()) +
                                 " sizes but " + std::to_string(strides.size()) + " strides");
    }
    int64_t numel = 1;
    int64_t last_index = storage_offset;
    bool contiguous = true;
    int64_t expected_stride = 1;
    for (size_t d = sizes.size(); d-- > 0;) {
        if (sizes[d] < 0 || strides[d] < 0) {
            throw std::runtime_error(source + ": tensor with a negative size or stride");
        }
        numel = checked_multiply(numel, sizes[d], source);
        if (sizes[d] > 0 &&
            __builtin_add_overflow(last_index, checked_multiply(sizes[d] - 1, strides[d], source),
                                   &last_index)) {
            throw std::runtime_error(source + ": tensor size overflows");
        }
        if (sizes[d] != 1 && strides[d] != expected_stride) {
            contiguous = false;
        }
        expected_stride *= sizes[d];
    }
    if (storage_offset < 0 || (numel > 0 && static_cast<uint64_t>(last_index) >= storage.numel)) {
        throw std::runtime_error(source + ": tensor " + shape_string(sizes) +
                                 " reaches past its storage of " + std::to_string(storage.numel) +
                                 " elements");
    }
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
        throw std::runtime_error(
            source +
            ": not a torch.save zip archive (PyTorch >= 1.6 format). If it is an older "
            "checkpoint, re-save it with torch.save(torch.load(f), f) in a recent PyTorch");
    }
    archive_ = std::make_unique<ZipArchive>(file);

    const std::optional<std::string> found_prefix = pickle_prefix(*archive_);
    if (!found_prefix) {
        throw std::runtime_error(source + ": zip archive without data.pkl; not a torch.save file");
    }
    const std::string& prefix = *found_prefix;
    if (archive_->members().count(prefix + "byteorder") != 0 &&
        archive_->read(prefix + "byteorder") != "little") {
        throw std::runtime_error(source + ": big-endian checkpoints are not supported");
    }

    // Storages met in the stream, by the placeholder object the unpickler holds for each.
    std::unordered_map<const pickle::Object*, StorageRef> storages;
    pickle::Hooks hooks;
    hooks.persistent_load = [&](const pickle::Value& pid) -> pickle::Value {
        // ('storage', storage class, key, location, numel)
        const auto& fields = pid.as_list().items;
        if (fields.size() < 5 || !fields[0].is<std::string>() ||
            fields[0].as_string() != "storage" || !fields[1].is<pickle::Global>()) {
            throw std::runtime_error(source + ": unknown persistent id " + pid.kind_name());
        }
        const auto& cls = *fields[1].get_if<pickle::Global>();
        const std::optional<torch::Dtype> dtype = storage_dtype(cls);
        if (!dtype) {
            throw std::runtime_error(source + ": unsupported storage type " + cls.qualified());
        }
        const ZipArchive::Member& m = archive_->member(prefix + "data/" + fields[2].as_string());
        const int64_t numel = fields[4].as_int();
        const auto element_size = static_cast<uint64_t>(c10::elementSize(*dtype));
        if (numel < 0 || static_cast<uint64_t>(numel) > m.size / element_size) {
            throw std::runtime_error(source + ": storage " + fields[2].as_string() + " claims " +
                                     std::to_string(numel) + " elements but holds " +
                                     std::to_string(m.size) + " bytes");
        }
        pickle::Object* placeholder = document_.new_object(cls);
        storages.emplace(placeholder,
                         StorageRef{file, m.data_offset, static_cast<uint64_t>(numel), *dtype});
        return placeholder;
    };
    hooks.reduce = [&](pickle::Document&, const pickle::Global& g,
                       const std::vector<pickle::Value>& args) -> std::optional<pickle::Value> {
        const std::string q = g.qualified();
        if (q == "torch._utils._rebuild_tensor_v2" || q == "torch._utils._rebuild_tensor") {
            const pickle::Object* const* storage =
                args.empty() ? nullptr : args[0].get_if<pickle::Object*>();
            const auto found = storage != nullptr ? storages.find(*storage) : storages.end();
            if (args.size() < 4 || found == storages.end()) {
                throw std::runtime_error(source + ": malformed " + q + " call");
            }
            return pickle::Value(rebuild_tensor(found->second, args[1].as_int(), int_list(args[2]),
                                                int_list(args[3]), source));
        }
        if (q == "torch._utils._rebuild_parameter" ||
            q == "torch._utils._rebuild_parameter_with_state") {
            if (args.empty() || !args[0].is<StoredTensor>()) {
                throw std::runtime_error(source + ": malformed " + q + " call");
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
        throw std::runtime_error(path_.string() + ": expected a state dict, found " +
                                 dict.kind_name());
    }
    for (const auto& [key, value] : items->items) {
        if (!key.is<std::string>() || !value.is<StoredTensor>()) {
            throw std::runtime_error(path_.string() + ": state dict entry " + key.kind_name() +
                                     " -> " + value.kind_name() + " is not name -> tensor");
        }
        out.add(key.as_string(), value.as_tensor());
    }
    return out;
}

}  // namespace embed
