// Between stages 1 and 2: proteins longer than a model can read (--long chunk). A protein of L
// residues over the limit W is read in windows of W residues that overlap by half (the last
// one ends at the protein's end). Each residue's rows come from the window in which it is most
// central, farthest from a window edge, where the model saw the most context on both sides;
// per-protein vectors pool the stitched rows. Contacts are averaged over the windows that hold
// both residues; pairs farther apart than any window holds get 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embed {

struct Window {
    int64_t start = 0;
    int64_t length = 0;
};

/// The windows of a protein of `length` residues for a limit of `limit`; one window, the
/// whole protein, when it fits.
std::vector<Window> windows_of(int64_t length, int64_t limit);

/// For each residue, the index of the window it is taken from.
std::vector<size_t> central_windows(int64_t length, const std::vector<Window>& windows);

/// The residues that `window`, the window numbered `number`, supplies: those `central`
/// (central_windows()) takes from it, a contiguous run within it; of length 0 when none.
Window central_run(const std::vector<size_t>& central, const Window& window, size_t number);

/// Pairs of residues (rows [row, row + rows) by columns [column, column + columns)) that the
/// same number of windows, `windows`, hold both residues of.
struct PairBlock {
    int64_t row = 0;
    int64_t rows = 0;
    int64_t column = 0;
    int64_t columns = 0;
    int64_t windows = 0;
};

/// The blocks of pairs that more than one of `windows` holds, covering each such pair once.
/// Contacts summed over the windows are averaged by dividing these blocks in place: no L x L
/// count is kept beside the L x L sum.
std::vector<PairBlock> pairs_in_several_windows(int64_t length, const std::vector<Window>& windows);

}  // namespace embed
