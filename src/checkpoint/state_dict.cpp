#include "embed/checkpoint/state_dict.h"

#include <sstream>
#include <stdexcept>

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
    torch::Tensor t = reader_();
    if (t.sizes() != at::IntArrayRef(shape_) || t.scalar_type() != dtype_) {
        throw std::logic_error("stored tensor read back as " + shape_string(t.sizes()) +
                               " instead of " + shape_string(shape_));
    }
    return t;
}

void StateDict::add(const std::string& name, StoredTensor tensor) {
    if (!tensors_.emplace(name, std::move(tensor)).second) {
        throw std::runtime_error(source_ + ": tensor '" + name + "' appears twice");
    }
}

const StoredTensor& StateDict::at(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
        throw std::runtime_error(source_ + ": missing tensor '" + name + "'");
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
                throw std::runtime_error(source_ + ": tensors '" + name +
                                         "' and another both map to '" + *new_name + "'");
            }
            out.add(*new_name, tensor);
        }
    }
    return out;
}

void load_strict(torch::nn::Module& module, const StateDict& state) {
    std::map<std::string, torch::Tensor> wanted;
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
        wanted.emplace(item.key(), item.value());
    }
    for (const auto& item : module.named_buffers(/*recurse=*/true)) {
        wanted.emplace(item.key(), item.value());
    }

    std::vector<std::string> missing;
    std::vector<std::string> wrong_shape;
    for (const auto& [name, target] : wanted) {
        const auto it = state.tensors().find(name);
        if (it == state.tensors().end()) {
            missing.push_back(name + " " + shape_string(target.sizes()));
        } else if (at::IntArrayRef(it->second.shape()) != target.sizes()) {
            wrong_shape.push_back(name + ": checkpoint has " + shape_string(it->second.shape()) +
                                  ", model expects " + shape_string(target.sizes()));
        }
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, tensor] : state.tensors()) {
        if (wanted.count(name) == 0) {
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
        throw std::runtime_error(state.source() + ": the checkpoint does not match the model" +
                                 problems);
    }

    torch::NoGradGuard no_grad;
    for (auto& [name, target] : wanted) {
        target.copy_(state.at(name).read());
    }
}

}  // namespace embed
