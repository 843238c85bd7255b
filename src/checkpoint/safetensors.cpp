#include "checkpoint/safetensors.h"

#include <stdexcept>

#include "base/errors.h"
#include "base/file.h"
#include "base/json.h"

namespace embed {
namespace {

constexpr uint64_t kHeaderLengthBytes = 8;
// The format caps headers at 100 MB; anything larger is a corrupted length field.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

torch::Dtype parse_dtype(const std::string& name) {
    static const std::map<std::string, torch::Dtype> kTypes = {
        {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
        {"F64", torch::kFloat64}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
        {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
        {"BOOL", torch::kBool},
    };
    const auto it = kTypes.find(name);
    if (it == kTypes.end()) {
        throw std::runtime_error("unsupported dtype " + name);
    }
    return it->second;
}

}  // namespace

StateDict read_safetensors(const std::filesystem::path& path) {
    const std::string source = path.string();
    std::shared_ptr<ReadOnlyFile> file = ReadOnlyFile::open(path);
    if (file->size() < kHeaderLengthBytes) {
        throw FileError(Location{source}, "too small to be a safetensors file");
    }
    unsigned char length_bytes[kHeaderLengthBytes];
    file->read_at(0, length_bytes, sizeof length_bytes);
    uint64_t header_length = 0;
    for (size_t i = 0; i < kHeaderLengthBytes; ++i) {
        header_length |= uint64_t{length_bytes[i]} << (8 * i);
    }
    if (header_length > kMaxHeaderBytes || header_length > file->size() - kHeaderLengthBytes) {
        throw FileError(Location{source},
                        "header length " + std::to_string(header_length) +
                            " does not fit the file; not a safetensors file or truncated");
    }
    std::string header_text(header_length, '\0');
    file->read_at(kHeaderLengthBytes, header_text.data(), header_text.size());
    nlohmann::json header;
    try {
        header = json::parse(header_text);
        json::as_object(header);
    } catch (const std::runtime_error& e) {
        throw FileError(Location{source}, std::string("malformed header: ") + e.what());
    }

    const uint64_t data_start = kHeaderLengthBytes + header_length;
    const uint64_t data_size = file->size() - data_start;
    StateDict out(source);
    for (const auto& [name, entry] : json::as_object(header)) {
        if (name == "__metadata__") {
            continue;
        }
        try {
            const torch::Dtype dtype = parse_dtype(json::as_string(json::at(entry, "dtype")));
            std::vector<int64_t> shape;
            uint64_t bytes = c10::elementSize(dtype);
            for (const nlohmann::json& d : json::as_array(json::at(entry, "shape"))) {
                shape.push_back(json::as_int(d));
                if (shape.back() < 0 ||
                    __builtin_mul_overflow(bytes, static_cast<uint64_t>(shape.back()), &bytes)) {
                    throw std::runtime_error("impossible shape " + shape_string(shape));
                }
            }
            const nlohmann::json::array_t& range = json::as_array(json::at(entry, "data_offsets"));
            if (range.size() != 2) {
                throw std::runtime_error("data_offsets must hold two numbers");
            }
            const auto begin = static_cast<uint64_t>(json::as_int(range[0]));
            const auto end = static_cast<uint64_t>(json::as_int(range[1]));
            if (begin > end || end > data_size || end - begin != bytes) {
                throw std::runtime_error("byte range [" + std::to_string(begin) + ", " +
                                         std::to_string(end) + ") does not hold " +
                                         shape_string(shape) + " within the " +
                                         std::to_string(data_size) + " data bytes");
            }
            const uint64_t offset = data_start + begin;
            auto read = [file, offset, bytes](const torch::Tensor& destination) {
                file->read_at(offset, destination.data_ptr(), bytes);
            };
            auto map = [file, offset, shape, dtype] {
                return map_tensor(file, offset, shape, dtype);
            };
            out.add(name, StoredTensor(shape, dtype, std::move(read), std::move(map)));
        } catch (const FileError&) {
            throw;  // StateDict::add's, which names the file
        } catch (const std::runtime_error& e) {
            throw FileError(Location{source, 0, "tensor " + name}, e.what());
        }
    }
    return out;
}

}  // namespace embed
