// Stage 5, crash-safe: a run writes its proteins into parts, complete HDF5 files in
// OUTPUT.parts/, each written under a temporary name, synced and renamed into place. A run
// killed at any moment (SIGKILL, power loss) loses only the proteins after the last part; a
// protein is in a committed part whole, or in none. At the end merge.h puts the parts together
// into OUTPUT in input order, and the directory goes.
#pragma once

#include <filesystem>
#include <vector>

namespace embed {

class OutputParts {
public:
    /// OUTPUT.parts beside OUTPUT.
    static std::filesystem::path directory_of(const std::filesystem::path& output);

    /// Creates the directory, or with `resume` opens it (creating it if absent) and removes
    /// the temporaries a killed run left. Without `resume` an existing directory is an error
    /// saying how to resume, unless `overwrite`, which empties it.
    OutputParts(const std::filesystem::path& output, bool resume, bool overwrite);

    const std::filesystem::path& directory() const { return directory_; }
    /// Committed parts, oldest first.
    std::vector<std::filesystem::path> committed() const;
    /// A name for the next part, to write to and pass to commit().
    std::filesystem::path next_temporary();
    /// Syncs the finished temporary and renames it into place.
    void commit(const std::filesystem::path& temporary);
    /// Removes the directory and everything in it (after the merged output is in place).
    void remove();

private:
    std::filesystem::path directory_;
    size_t next_number_ = 1;
};

}  // namespace embed
