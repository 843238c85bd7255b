#include "input/long_proteins.h"

#include <algorithm>
#include <stdexcept>

#include "base/errors.h"

namespace embed {

std::vector<Window> windows_of(int64_t length, int64_t limit) {
    if (limit <= 0) {
        throw BadInput("window limit must be positive");
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

Window central_run(const std::vector<size_t>& central, const Window& window, size_t number) {
    int64_t first = -1;
    int64_t last = -1;
    for (int64_t i = window.start; i < window.start + window.length; ++i) {
        if (central[static_cast<size_t>(i)] == number) {
            first = first < 0 ? i : first;
            last = i;
        }
    }
    return first < 0 ? Window{} : Window{first, last - first + 1};
}

std::vector<PairBlock> pairs_in_several_windows(int64_t length,
                                                const std::vector<Window>& windows) {
    // Between consecutive window edges, every residue is in the same windows: the pairs of two
    // such runs form a block held by the windows that hold both runs.
    std::vector<int64_t> edges = {0, length};
    for (const Window& w : windows) {
        edges.push_back(w.start);
        edges.push_back(w.start + w.length);
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    const auto holds = [](const Window& w, int64_t start, int64_t end) {
        return w.start <= start && end <= w.start + w.length;
    };
    std::vector<PairBlock> blocks;
    for (size_t a = 0; a + 1 < edges.size(); ++a) {
        for (size_t b = 0; b + 1 < edges.size(); ++b) {
            int64_t count = 0;
            for (const Window& w : windows) {
                count += holds(w, edges[a], edges[a + 1]) && holds(w, edges[b], edges[b + 1]);
            }
            if (count > 1) {
                blocks.push_back(PairBlock{edges[a], edges[a + 1] - edges[a], edges[b],
                                           edges[b + 1] - edges[b], count});
            }
        }
    }
    return blocks;
}

}  // namespace embed
