// Index of a zip archive's stored (uncompressed) members, as torch.save writes them; zip64 is
// supported, since the larger released checkpoints exceed 4 GiB.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/file.h"

namespace embed {

class ZipArchive {
public:
    struct Member {
        uint64_t data_offset;  ///< where the member's bytes start in the file
        uint64_t size;
    };

    /// Reads the central directory; throws std::runtime_error naming the file if it is not a
    /// zip archive, is truncated, or holds compressed members.
    explicit ZipArchive(std::shared_ptr<ReadOnlyFile> file);

    /// True when the file starts like a zip archive.
    static bool looks_like_zip(const ReadOnlyFile& file);

    const std::map<std::string, Member>& members() const { return members_; }
    /// Throws naming the member and the archive when absent.
    const Member& member(const std::string& name) const;
    std::string read(const std::string& name) const;

private:
    std::shared_ptr<ReadOnlyFile> file_;
    std::map<std::string, Member> members_;
};

}  // namespace embed
