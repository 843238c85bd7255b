#include "checkpoint/zip_archive.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "base/errors.h"

namespace embed {
namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndOfDirectorySignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr size_t kEndOfDirectorySize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kMaxCommentSize = 0xFFFF;
constexpr uint32_t kZip64Marker = 0xFFFFFFFF;
constexpr uint16_t kMethodStored = 0;

uint64_t read_le(const char* p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
    }
    return v;
}

FileError not_readable(const std::string& name, const std::string& what) {
    return FileError(Location{name}, "not a readable zip archive (" + what +
                                         "); the file may be truncated or corrupted");
}

// Where the central directory is and how many entries it has.
struct CentralDirectory {
    uint64_t entries = 0;
    uint64_t size = 0;
    uint64_t offset = 0;
};

// From the end-of-central-directory record (or its zip64 successor), checked to lie in the file.
CentralDirectory find_central_directory(const ReadOnlyFile& file) {
    const std::string name = file.path().string();
    auto fail = [&](const std::string& what) { return not_readable(name, what); };
    const uint64_t file_size = file.size();
    if (file_size < kEndOfDirectorySize) {
        throw fail("too small");
    }
    const uint64_t tail_size = std::min<uint64_t>(file_size, kEndOfDirectorySize + kMaxCommentSize);
    std::vector<char> tail(tail_size);
    file.read_at(file_size - tail_size, tail.data(), tail.size());

    // The end-of-central-directory record is the last occurrence of its signature.
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(tail_size - kEndOfDirectorySize); i >= 0; --i) {
        if (read_le(&tail[i], 4) == kEndOfDirectorySignature) {
            eocd = i;
            break;
        }
    }
    if (eocd < 0) {
        throw fail("no end-of-central-directory record");
    }
    const char* end = &tail[eocd];
    uint64_t entries = read_le(end + 10, 2);
    uint64_t directory_size = read_le(end + 12, 4);
    uint64_t directory_offset = read_le(end + 16, 4);

    const uint64_t eocd_offset = file_size - tail_size + static_cast<uint64_t>(eocd);
    if (eocd_offset >= kZip64LocatorSize) {
        char locator[kZip64LocatorSize];
        file.read_at(eocd_offset - kZip64LocatorSize, locator, sizeof locator);
        if (read_le(locator, 4) == kZip64LocatorSignature) {
            const uint64_t zip64_end_offset = read_le(locator + 8, 8);
            char zip64_end[56];
            file.read_at(zip64_end_offset, zip64_end, sizeof zip64_end);
            if (read_le(zip64_end, 4) != kZip64EndSignature) {
                throw fail("bad zip64 end record");
            }
            entries = read_le(zip64_end + 32, 8);
            directory_size = read_le(zip64_end + 40, 8);
            directory_offset = read_le(zip64_end + 48, 8);
        }
    }
    if (directory_offset > file_size || directory_size > file_size - directory_offset) {
        throw fail("central directory outside the file");
    }
    return CentralDirectory{entries, directory_size, directory_offset};
}

// A central directory entry's zip64 extra field: 8-byte values for exactly those fields that
// hold the marker.
void read_zip64_extra(const char* extra, size_t extra_length, uint64_t& size,
                      uint64_t& compressed_size, uint64_t& local_offset) {
    for (size_t x = 0; x + 4 <= extra_length;) {
        const auto id = static_cast<uint16_t>(read_le(extra + x, 2));
        const size_t length = read_le(extra + x + 2, 2);
        if (x + 4 + length > extra_length) {
            break;
        }
        if (id == kZip64ExtraId) {
            size_t field = x + 4;
            auto take64 = [&](uint64_t& value) {
                if (value == kZip64Marker && field + 8 <= x + 4 + length) {
                    value = read_le(extra + field, 8);
                    field += 8;
                }
            };
            take64(size);
            take64(compressed_size);
            take64(local_offset);
        }
        x += 4 + length;
    }
}

}  // namespace

bool ZipArchive::looks_like_zip(const ReadOnlyFile& file) {
    if (file.size() < 4) {
        return false;
    }
    char magic[4];
    file.read_at(0, magic, sizeof magic);
    return read_le(magic, 4) == kLocalHeaderSignature;
}

ZipArchive::ZipArchive(std::shared_ptr<ReadOnlyFile> file) : file_(std::move(file)) {
    const std::string name = file_->path().string();
    auto fail = [&](const std::string& what) { return not_readable(name, what); };
    const uint64_t file_size = file_->size();
    const auto [entries, directory_size, directory_offset] = find_central_directory(*file_);

    std::vector<char> directory(directory_size);
    file_->read_at(directory_offset, directory.data(), directory.size());
    size_t pos = 0;
    for (uint64_t e = 0; e < entries; ++e) {
        if (pos + kCentralHeaderSize > directory.size() ||
            read_le(&directory[pos], 4) != kCentralHeaderSignature) {
            throw fail("bad central directory entry " + std::to_string(e));
        }
        const char* h = &directory[pos];
        const auto method = static_cast<uint16_t>(read_le(h + 10, 2));
        uint64_t compressed_size = read_le(h + 20, 4);
        uint64_t size = read_le(h + 24, 4);
        const size_t name_length = read_le(h + 28, 2);
        const size_t extra_length = read_le(h + 30, 2);
        const size_t comment_length = read_le(h + 32, 2);
        uint64_t local_offset = read_le(h + 42, 4);
        if (pos + kCentralHeaderSize + name_length + extra_length + comment_length >
            directory.size()) {
            throw fail("central directory entry runs past its end");
        }
        std::string member_name(h + kCentralHeaderSize, name_length);

        read_zip64_extra(h + kCentralHeaderSize + name_length, extra_length, size, compressed_size,
                         local_offset);
        pos += kCentralHeaderSize + name_length + extra_length + comment_length;

        if (method != kMethodStored) {
            throw FileError(Location{name}, "member " + member_name +
                                                " is compressed; torch.save archives store members "
                                                "uncompressed and only those are supported");
        }
        char local[kLocalHeaderSize];
        file_->read_at(local_offset, local, sizeof local);
        if (read_le(local, 4) != kLocalHeaderSignature) {
            throw fail("bad local header for " + member_name);
        }
        const uint64_t data_offset =
            local_offset + kLocalHeaderSize + read_le(local + 26, 2) + read_le(local + 28, 2);
        if (data_offset > file_size || size > file_size - data_offset) {
            throw fail("member " + member_name + " runs past the end of the file");
        }
        members_[std::move(member_name)] = Member{data_offset, size};
    }
}

const ZipArchive::Member& ZipArchive::member(const std::string& member_name) const {
    const auto it = members_.find(member_name);
    if (it == members_.end()) {
        throw FileError(Location{file_->path().string()}, "archive has no member " + member_name);
    }
    return it->second;
}

std::string ZipArchive::read(const std::string& member_name) const {
    const Member& m = member(member_name);
    std::string out(m.size, '\0');
    file_->read_at(m.data_offset, out.data(), out.size());
    return out;
}

}  // namespace embed
