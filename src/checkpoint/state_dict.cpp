#include "checkpoint/state_dict.h"

#include <sstream>
#include <stdexcept>

#include "base/errors.h"

namespace embed {
namespace {

// Error messages list at most this many names; checkpoints of the wrong family miss hundreds.
constexpr size_t kMaxNamesInError = 12;

std::string join_names(const std::vector<std::string>& names) {
    std::ostringstream out;
    for (size_t i = 0; i < names.size() && i < kMaxNamesInError; ++i) {
        out << "\n  " << names[i];
    }
    if (names.size() > kMaxNamesInError) {
        out << "\n  ... and " << names.size() - kMaxNamesInError << " more";
    }
    return out.str();
}

}  // namespace

std::string shape_string(at::IntArrayRef shape) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) {
        out << (i > 0 ? ", " : "") << shape[i];
    }
    out << ']';
    return out.str();
}

torch::Tensor StoredTensor::read() const {
    torch::Tensor t = torch::empty(shape_, torch::TensorOptions().dtype(dtype_));
    reader_(t);
    return t;
}

void StoredTensor::read_into(const torch::Tensor& target) const {
    if (target.sizes() != at::IntArrayRef(shape_)) {
        throw std::logic_error("stored tensor " + shape_string(shape_) + " read into " +
                               shape_string(target.sizes()));
    }
    if (target.is_cpu() && target.is_contiguous() && target.scalar_type() == dtype_) {
        reader_(target);
    } else {
        target.copy_(read());
    }
}

torch::Tensor map_tensor(const std::shared_ptr<ReadOnlyFile>& file, uint64_t offset,
                         const std::vector<int64_t>& shape, torch::Dtype dtype) {
    const size_t element_size = c10::elementSize(dtype);
    char* mapping = file->mapping();
    if (mapping == nullptr || offset % element_size != 0) {
        return {};
    }
    int64_t numel = 1;
    for (const int64_t size : shape) {
        numel *= size;
    }
    const size_t bytes = static_cast<size_t>(numel) * element_size;
    if (offset > file->size() || bytes > file->size() - offset) {
        return {};  // read() reports the truncation
    }
    return torch::from_blob(
        mapping + offset, shape, [file, offset, bytes](void*) { file->release(offset, bytes); },
        torch::TensorOptions().dtype(dtype));
}

void StateDict::add(const std::string& name, StoredTensor tensor) {
    if (!tensors_.emplace(name, std::move(tensor)).second) {
        throw FileError(Location{source_}, "tensor '" + name + "' appears twice");
    }
}

const StoredTensor& StateDict::at(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
        throw FileError(Location{source_}, "missing tensor '" + name + "'");
    }
    return it->second;
}

void StateDict::merge(StateDict other) {
    for (auto& [name, tensor] : other.tensors_) {
        add(name, std::move(tensor));
    }
}

StateDict StateDict::renamed(
    const std::function<std::optional<std::string>(const std::string&)>& rename) const {
    StateDict out(source_);
    for (const auto& [name, tensor] : tensors_) {
        if (std::optional<std::string> new_name = rename(name)) {
            if (out.contains(*new_name)) {
                throw FileError(
                    Location{source_},
                    "tensors '" + name + "' and another both map to '" + *new_name + "'");
            }
            out.add(*new_name, tensor);
        }
    }
    return out;
}

void StrictLoader::expect(const std::string& name, std::vector<int64_t> shape) {
    expected_.emplace(name, std::move(shape));
}

void StrictLoader::check() const {
    std::vector<std::string> missing;
    std::vector<std::string> wrong_shape;
    for (const auto& [name, shape] : expected_) {
        const auto it = state_.tensors().find(name);
        if (it == state_.tensors().end()) {
            missing.push_back(name + " " + shape_string(shape));
        } else if (it->second.shape() != shape) {
            wrong_shape.push_back(name + ": checkpoint has " + shape_string(it->second.shape()) +
                                  ", model expects " + shape_string(shape));
        }
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, tensor] : state_.tensors()) {
        if (expected_.count(name) == 0) {
            unexpected.push_back(name + " " + shape_string(tensor.shape()));
        }
    }

    std::string problems;
    if (!missing.empty()) {
        problems += "\nmissing tensors:" + join_names(missing);
    }
    if (!wrong_shape.empty()) {
        problems += "\ntensors with the wrong shape:" + join_names(wrong_shape);
    }
    if (!unexpected.empty()) {
        problems += "\nunexpected tensors:" + join_names(unexpected);
    }
    if (!problems.empty()) {
        throw FileError(Location{state_.source()},
                        "the checkpoint does not match the model" + problems);
    }
}

torch::Tensor StrictLoader::read(const std::string& name) const {
    const StoredTensor& stored = state_.at(name);
    torch::Tensor mapped = stored.mapped();
    return mapped.defined() ? mapped : stored.read();
}

void load_strict(torch::nn::Module& module, const StateDict& state) {
    std::map<std::string, torch::Tensor> targets;
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
        targets.emplace(item.key(), item.value());
    }
    for (const auto& item : module.named_buffers(/*recurse=*/true)) {
        targets.emplace(item.key(), item.value());
    }
    StrictLoader loader(state);
    for (const auto& [name, target] : targets) {
        loader.expect(name, target.sizes().vec());
    }
    loader.check();

    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) {
        const StoredTensor& stored = state.at(name);
        // A parameter that views part of a bigger buffer (ESM's fused q/k/v) is read into its
        // place; one that owns its memory becomes a view of the mapped file.
        const bool owns_its_memory =
            target.storage_offset() == 0 && target.storage().nbytes() == target.nbytes();
        torch::Tensor mapped;
        if (target.is_cpu() && target.scalar_type() == stored.dtype() && owns_its_memory) {
            mapped = stored.mapped();
        }
        if (mapped.defined()) {
            target.set_data(mapped);
        } else {
            stored.read_into(target);
        }
    }
}

}  // namespace embed
