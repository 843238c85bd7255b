// Between stages 3 and 4 (--long chunk): a protein read in several windows (long_proteins.h)
// put back together from the model's output for each window, as the windows come out of their
// batches in any order. The windows and which residue comes from which are decided in
// long_proteins.h, without tensors; this is the part that holds the model's output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "input/long_proteins.h"

namespace embed {

/// One protein of `length` residues read in `windows` (windows_of()).
class LongProteinStitching {
public:
    LongProteinStitching(int64_t length, std::vector<Window> windows);

    const std::vector<Window>& windows() const { return windows_; }

    /// Adds window `number`'s output: rows_NLD (layers, window length, D); bos_ND (layers, D) or
    /// undefined; contacts_LL (window length, window length) or undefined. True when it was the
    /// last window: the protein is complete.
    bool add(size_t number, const torch::Tensor& rows_NLD, const torch::Tensor& bos_ND,
             const torch::Tensor& contacts_LL);

    /// When complete: each residue's rows from the window it is most central in, (layers, L, D).
    const torch::Tensor& residues_NLD() const { return residues_NLD_; }
    /// When complete: the first window's BOS state (layers, D).
    const torch::Tensor& bos_ND() const { return bos_ND_; }
    /// When complete: the contacts averaged over the windows that hold both residues (L, L);
    /// computed in place by the first call.
    const torch::Tensor& contacts_LL();

private:
    int64_t length_;
    std::vector<Window> windows_;
    std::vector<size_t> central_;
    size_t remaining_;
    bool averaged_ = false;
    torch::Tensor residues_NLD_;
    torch::Tensor bos_ND_;
    // Summed over the windows until the last one, then averaged in place: L x L floats once.
    torch::Tensor contacts_LL_;
};

}  // namespace embed
