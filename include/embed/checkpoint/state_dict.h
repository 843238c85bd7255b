// Named tensors of a checkpoint, read from disk only when a module asks for them, and loaded
// into LibTorch modules strictly by name.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace embed {

/// A tensor that lives in a checkpoint file; read() materialises it on the CPU.
class StoredTensor {
public:
    using Reader = std::function<torch::Tensor()>;

    StoredTensor(std::vector<int64_t> shape, torch::Dtype dtype, Reader reader)
        : shape_(std::move(shape)), dtype_(dtype), reader_(std::move(reader)) {}

    const std::vector<int64_t>& shape() const { return shape_; }
    torch::Dtype dtype() const { return dtype_; }
    /// Contiguous CPU tensor of shape() and dtype().
    torch::Tensor read() const;

private:
    std::vector<int64_t> shape_;
    torch::Dtype dtype_;
    Reader reader_;
};

/// Checkpoint tensors by name. `source` names the file(s) in error messages.
class StateDict {
public:
    explicit StateDict(std::string source = {}) : source_(std::move(source)) {}

    /// Throws if the name is already present (a checkpoint must not hold a name twice).
    void add(const std::string& name, StoredTensor tensor);
    bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
    /// Throws std::runtime_error naming the tensor and the source when absent.
    const StoredTensor& at(const std::string& name) const;
    const std::map<std::string, StoredTensor>& tensors() const { return tensors_; }
    const std::string& source() const { return source_; }
    size_t size() const { return tensors_.size(); }

    /// Moves every tensor of `other` in (shards of one checkpoint, extra head files).
    void merge(StateDict other);
    /// A copy under new names: `rename` returns the new name, or nullopt to leave a tensor out
    /// (heads the encoder never uses). Two tensors may not land on one name.
    StateDict renamed(
        const std::function<std::optional<std::string>(const std::string&)>& rename) const;

private:
    std::string source_;
    std::map<std::string, StoredTensor> tensors_;
};

/// Strict loading for any layout: declare every tensor the model needs with its shape, check,
/// then read. check() reports all missing, misshapen and unexpected tensors at once, which
/// tells a user at a glance whether a checkpoint is the wrong model or a damaged file.
class StrictLoader {
public:
    explicit StrictLoader(const StateDict& state) : state_(state) {}
    void expect(const std::string& name, std::vector<int64_t> shape);
    /// Throws std::runtime_error naming the source and every problem.
    void check() const;
    /// An expected tensor, as stored (CPU, the file's dtype).
    torch::Tensor read(const std::string& name) const { return state_.at(name).read(); }

private:
    const StateDict& state_;
    std::map<std::string, std::vector<int64_t>> expected_;
};

/// Fills every parameter and buffer of `module` from `state` by its name in the module tree.
/// A missing tensor, an unexpected one, or a shape that differs is an error naming the
/// tensors and both shapes. Values are converted to each parameter's dtype.
void load_strict(torch::nn::Module& module, const StateDict& state);

/// "[33, 1280]"
std::string shape_string(at::IntArrayRef shape);

}  // namespace embed
