// Named tensors of a checkpoint, read from disk only when a module asks for them, and loaded
// into LibTorch modules strictly by name.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "base/file.h"

namespace embed {

/// A tensor that lives in a checkpoint file; read() materialises it on the CPU.
class StoredTensor {
public:
    /// Fills a contiguous CPU tensor of the stored shape and dtype.
    using Reader = std::function<void(const torch::Tensor& destination)>;
    /// A CPU tensor viewing the file's bytes without copying them (see map_tensor), or an
    /// undefined one where that is impossible.
    using Mapper = std::function<torch::Tensor()>;

    StoredTensor(std::vector<int64_t> shape, torch::Dtype dtype, Reader reader, Mapper mapper = {})
        : shape_(std::move(shape)),
          dtype_(dtype),
          reader_(std::move(reader)),
          mapper_(std::move(mapper)) {}

    const std::vector<int64_t>& shape() const { return shape_; }
    torch::Dtype dtype() const { return dtype_; }
    /// Contiguous CPU tensor of shape() and dtype().
    torch::Tensor read() const;
    /// Reads into `target` of shape(), converting to its dtype and device. A contiguous CPU
    /// target of dtype() is filled straight from the file: no second copy of the weights.
    void read_into(const torch::Tensor& target) const;
    /// The tensor viewing the file's bytes in place, or an undefined one.
    torch::Tensor mapped() const { return mapper_ ? mapper_() : torch::Tensor(); }

private:
    std::vector<int64_t> shape_;
    torch::Dtype dtype_;
    Reader reader_;
    Mapper mapper_;
};

/// A CPU tensor of `shape` and `dtype` over the bytes at `offset` of the file's mapping: no
/// copy, and no memory of its own; its pages are read when first used and given back to the
/// page cache when the tensor dies. Undefined where the file cannot be mapped or the offset
/// is misaligned for the type.
torch::Tensor map_tensor(const std::shared_ptr<ReadOnlyFile>& file, uint64_t offset,
                         const std::vector<int64_t>& shape, torch::Dtype dtype);

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
    /// An expected tensor, as stored (CPU, the file's dtype): a view of the mapped file where
    /// there is one (see map_tensor), else read.
    torch::Tensor read(const std::string& name) const;

private:
    const StateDict& state_;
    std::map<std::string, std::vector<int64_t>> expected_;
};

/// Fills every parameter and buffer of `module` from `state` by its name in the module tree.
/// A missing tensor, an unexpected one, or a shape that differs is an error naming the
/// tensors and both shapes. Values are converted to each parameter's dtype. A CPU parameter
/// of the stored dtype that owns its memory becomes a view of the mapped file where it can:
/// loading then reads nothing until the model runs, and the weights take no memory beyond the
/// page cache. A parameter viewing part of a bigger tensor is read into its place.
void load_strict(torch::nn::Module& module, const StateDict& state);

/// "[33, 1280]"
std::string shape_string(at::IntArrayRef shape);

}  // namespace embed
