#include "encode/long_protein_stitching.h"

namespace embed {

LongProteinStitching::LongProteinStitching(int64_t length, std::vector<Window> windows)
    : length_(length),
      windows_(std::move(windows)),
      central_(central_windows(length, windows_)),
      remaining_(windows_.size()) {}

bool LongProteinStitching::add(size_t number, const torch::Tensor& rows_NLD,
                               const torch::Tensor& bos_ND, const torch::Tensor& contacts_LL) {
    const Window& window = windows_[number];
    if (!residues_NLD_.defined()) {
        residues_NLD_ = torch::zeros({rows_NLD.size(0), length_, rows_NLD.size(2)});
    }
    if (const Window run = central_run(central_, window, number); run.length > 0) {
        residues_NLD_.narrow(1, run.start, run.length)
            .copy_(rows_NLD.narrow(1, run.start - window.start, run.length));
    }
    if (number == 0 && bos_ND.defined()) {
        bos_ND_ = bos_ND.clone();
    }
    if (contacts_LL.defined()) {
        if (!contacts_LL_.defined()) {
            contacts_LL_ = torch::zeros({length_, length_});
        }
        contacts_LL_.narrow(0, window.start, window.length)
            .narrow(1, window.start, window.length) += contacts_LL;
    }
    return --remaining_ == 0;
}

const torch::Tensor& LongProteinStitching::contacts_LL() {
    if (!averaged_ && contacts_LL_.defined()) {
        for (const PairBlock& b : pairs_in_several_windows(length_, windows_)) {
            contacts_LL_.narrow(0, b.row, b.rows)
                .narrow(1, b.column, b.columns)
                .div_(static_cast<double>(b.windows));
        }
        averaged_ = true;
    }
    return contacts_LL_;
}

}  // namespace embed
