#include "embed/long_proteins.h"

#include <algorithm>
#include <stdexcept>

namespace embed {

std::vector<Window> windows_of(int64_t length, int64_t limit) {
    if (limit <= 0) {
        throw std::invalid_argument("window limit must be positive");
    }
    if (length <= limit) {
        return {Window{0, length}};
    }
    const int64_t stride = std::max<int64_t>(limit / 2, 1);
    std::vector<Window> windows;
    for (int64_t start = 0;; start += stride) {
        if (start + limit >= length) {
            windows.push_back(Window{length - limit, limit});
            return windows;
        }
        windows.push_back(Window{start, limit});
    }
}

std::vector<size_t> central_windows(int64_t length, const std::vector<Window>& windows) {
    std::vector<size_t> best(static_cast<size_t>(length), 0);
    for (int64_t i = 0; i < length; ++i) {
        int64_t best_margin = -1;
        for (size_t w = 0; w < windows.size(); ++w) {
            const Window& window = windows[w];
            if (i < window.start || i >= window.start + window.length) {
                continue;
            }
            // Context on the side with less of it; the protein's own ends count as context,
            // since no window can see past them.
            const int64_t left = window.start == 0 ? length : i - window.start;
            const int64_t right = window.start + window.length == length
                                      ? length
                                      : window.start + window.length - 1 - i;
            const int64_t margin = std::min(left, right);
            if (margin > best_margin) {
                best_margin = margin;
                best[static_cast<size_t>(i)] = w;
            }
        }
    }
    return best;
}

}  // namespace embed
