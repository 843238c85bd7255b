#include "input/fasta.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <zlib.h>

#include "base/text.h"

namespace embed {
namespace {

constexpr size_t kReadChunkBytes = 1u << 16;

// Editors on Windows start UTF-8 files with a byte-order mark.
constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";

}  // namespace

// Lines from a file or stdin, plain or gzip. The gzip stream is inflated here rather than
// through gzread, which reads past a member into whatever follows and silently drops bytes that
// are not another member: an input with text appended to its gzip data would read as shorter.
class FastaReader::Source {
public:
    Source(const std::string& path, const std::string& name) : name_(name) {
        fd_ = path == "-" ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
            const int error = errno;
            // A path that names nothing is a mistake in the command; a file that exists but
            // cannot be opened is the file system's failure.
            if (error == ENOENT || error == ENOTDIR) {
                throw InputError(name_, 0, "", "cannot open: " + std::string(std::strerror(error)));
            }
            throw std::runtime_error(name_ + ": cannot open: " + std::strerror(error));
        }
        struct stat status {};
        if (::fstat(fd_, &status) == 0 && S_ISDIR(status.st_mode)) {
            ::close(fd_);
            throw InputError(name_, 0, "", "is a directory, not a FASTA file");
        }
        try {
            in_end_ = read_some(in_, sizeof in_, 1);
        } catch (...) {
            ::close(fd_);  // the destructor does not run for a constructor that throws
            throw;
        }
        gzip_ = in_end_ >= 2 && static_cast<unsigned char>(in_[0]) == kGzipMagic[0] &&
                static_cast<unsigned char>(in_[1]) == kGzipMagic[1];
        if (gzip_) {
            if (inflateInit2(&stream_, kGzipOnlyWindowBits) != Z_OK) {
                ::close(fd_);
                throw std::runtime_error(name_ + ": cannot start gzip decompression");
            }
            stream_.next_in = reinterpret_cast<Bytef*>(in_);
            stream_.avail_in = static_cast<uInt>(std::exchange(in_end_, 0));
        }
    }
    ~Source() {
        if (gzip_) {
            inflateEnd(&stream_);
        }
        ::close(fd_);
    }
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;

    // False at the end of input. Lines end at "\n", "\r\n" or a lone "\r" (as in Python's text
    // mode, which Biopython reads FASTA in): files from old Macs and files of mixed origin read
    // as the records their author saw, never as one header swallowing the next record.
    bool read_line(std::string& line, size_t line_number) {
        line.clear();
        bool started = false;
        while (true) {
            if (pos_ == end_ && !fill(line_number)) {
                return started;
            }
            if (after_carriage_return_) {
                after_carriage_return_ = false;
                if (buffer_[pos_] == '\n') {
                    ++pos_;
                    continue;
                }
            }
            started = true;
            const char* start = buffer_ + pos_;
            const char* stop = buffer_ + end_;
            // memchr, twice, reads a plain-LF file faster than one loop testing for both; the
            // "\n" found is kept, or a file of CR line ends would search its buffer per line.
            if (!newline_known_ || newline_ < pos_) {
                const void* newline = std::memchr(start, '\n', end_ - pos_);
                newline_ = newline != nullptr
                               ? static_cast<size_t>(static_cast<const char*>(newline) - buffer_)
                               : end_;
                newline_known_ = true;
            }
            const char* limit = buffer_ + newline_;
            const auto* carriage_return =
                static_cast<const char*>(std::memchr(start, '\r', limit - start));
            const char* line_end = carriage_return != nullptr ? carriage_return : limit;
            line.append(start, line_end);
            if (line_end == stop) {
                pos_ = end_;
                continue;
            }
            after_carriage_return_ = *line_end == '\r';
            pos_ = static_cast<size_t>(line_end - buffer_) + 1;
            return true;
        }
    }

private:
    static constexpr unsigned char kGzipMagic[2] = {0x1f, 0x8b};
    static constexpr int kGzipOnlyWindowBits = 15 + 16;

    // Read and decompression errors are not a bad record to skip: they end the run.
    [[noreturn]] void fail(size_t line_number, const std::string& problem) const {
        throw std::runtime_error(name_ + ":" + std::to_string(line_number) +
                                 ": cannot read the input: " + problem);
    }

    size_t read_some(char* into, size_t capacity, size_t line_number) {
        while (true) {
            const ssize_t got = ::read(fd_, into, capacity);
            if (got >= 0) {
                offset_ += static_cast<uint64_t>(got);
                return static_cast<size_t>(got);
            }
            if (errno != EINTR) {
                fail(line_number, std::strerror(errno));
            }
        }
    }

    // The next bytes of text into buffer_; false at the end of input.
    bool fill(size_t line_number) {
        pos_ = 0;
        newline_known_ = false;
        if (!gzip_) {
            if (in_end_ > 0) {  // the bytes read to detect the format
                std::memcpy(buffer_, in_, in_end_);
                end_ = std::exchange(in_end_, 0);
            } else {
                end_ = read_some(buffer_, sizeof buffer_, line_number);
            }
            return end_ > 0;
        }
        stream_.next_out = reinterpret_cast<Bytef*>(buffer_);
        stream_.avail_out = sizeof buffer_;
        while (stream_.avail_out == sizeof buffer_) {
            if (stream_.avail_in == 0) {
                const size_t got = read_some(in_, sizeof in_, line_number);
                if (got == 0) {
                    if (in_member_) {
                        fail(line_number,
                             "the gzip data ends early (truncated or corrupt gzip "
                             "file?)");
                    }
                    break;
                }
                stream_.next_in = reinterpret_cast<Bytef*>(in_);
                stream_.avail_in = static_cast<uInt>(got);
            }
            if (!in_member_) {
                // Concatenated members (cat a.gz b.gz) are one valid gzip file; anything else
                // after a member is not part of the input.
                if (static_cast<unsigned char>(*stream_.next_in) != kGzipMagic[0]) {
                    fail(line_number,
                         "the gzip data ends at byte " + std::to_string(member_end_) +
                             " and is followed by bytes that are not gzip data (corrupt gzip "
                             "file, or text appended to it?)");
                }
                inflateReset(&stream_);
                in_member_ = true;
            }
            const int code = inflate(&stream_, Z_NO_FLUSH);
            if (code == Z_STREAM_END) {
                in_member_ = false;
                member_end_ = offset_ - stream_.avail_in;
            } else if (code != Z_OK) {
                fail(line_number, std::string("truncated or corrupt gzip data: ") +
                                      (stream_.msg != nullptr ? stream_.msg : zError(code)));
            }
        }
        end_ = sizeof buffer_ - stream_.avail_out;
        return end_ > 0;
    }

    std::string name_;
    int fd_ = -1;
    uint64_t offset_ = 0;  // bytes read from the file
    bool gzip_ = false;
    z_stream stream_{};
    bool in_member_ = false;   // inside a gzip member, which must be completed
    uint64_t member_end_ = 0;  // file offset just after the last complete member
    char in_[kReadChunkBytes];
    size_t in_end_ = 0;  // plain input: bytes of in_ not yet handed on
    char buffer_[kReadChunkBytes];
    size_t pos_ = 0;
    size_t end_ = 0;
    bool after_carriage_return_ = false;  // a "\n" next ends no line
    size_t newline_ = 0;  // of the first "\n" in buffer_ at or after pos_, or end_ if none
    bool newline_known_ = false;
};

size_t FastaRecord::line_of_residue(size_t index) const {
    const auto after = std::upper_bound(
        line_starts_.begin(), line_starts_.end(), index,
        [](size_t i, const std::pair<size_t, size_t>& start) { return i < start.first; });
    return after == line_starts_.begin() ? header_line : std::prev(after)->second;
}

FastaReader::FastaReader(const std::string& path, std::string name)
    : name_(!name.empty() ? std::move(name)
            : path == "-" ? "<stdin>"
                          : path),
      source_(std::make_unique<Source>(path, name_)) {}

FastaReader::~FastaReader() = default;

bool FastaReader::read_line(std::string& line) {
    if (!source_->read_line(line, line_number_ + 1)) {
        return false;
    }
    ++line_number_;
    return true;
}

// Up to the first header: only blank lines (and a UTF-8 byte order mark) may come before it.
void FastaReader::check_preamble() {
    std::string line;
    size_t first_text_line = 0;
    bool first_line = true;
    while (read_line(line)) {
        if (first_line && line.rfind(kUtf8ByteOrderMark, 0) == 0) {
            line.erase(0, kUtf8ByteOrderMark.size());
        }
        first_line = false;
        if (!line.empty() && line[0] == '>') {
            pending_header_ = line;
            pending_header_line_ = line_number_;
            break;
        }
        if (first_text_line == 0 && !trim_blanks(line).empty()) {
            first_text_line = line_number_;
        }
    }
    if (first_text_line != 0) {
        throw InputError(name_, first_text_line, "",
                         pending_header_ ? "text before the first '>' header"
                                         : "no '>' header found; is this a FASTA file?");
    }
}

// A record read whole: a NUL byte (its first at nul_line, nul_byte; 0: none), no id or no
// residues make it an InputError.
void FastaReader::check_record(const FastaRecord& record, size_t nul_line, size_t nul_byte) const {
    if (nul_line != 0) {
        std::string shown_id;
        for (const char c : record.id) {
            shown_id += c == '\0' ? std::string("\\0") : std::string(1, c);
        }
        throw InputError(name_, nul_line, shown_id,
                         "a NUL byte (\\0) at byte " + std::to_string(nul_byte) +
                             " of the line (a binary or corrupt file?)");
    }
    if (record.id.empty()) {
        throw InputError(name_, record.header_line, "", "header without an id");
    }
    if (record.residues.empty()) {
        throw InputError(
            name_, record.header_line, record.id,
            record.line_starts_.empty() ? "header without a sequence" : "empty sequence");
    }
}

std::optional<FastaRecord> FastaReader::next() {
    std::string line;
    if (!checked_preamble_) {
        checked_preamble_ = true;
        check_preamble();
    }
    if (!pending_header_) {
        return std::nullopt;
    }

    FastaRecord record;
    record.header_line = pending_header_line_;
    // The first NUL byte in the record: C strings, HDF5 attributes and most text tools end at
    // one, so an id or sequence holding one would be stored as something other than was read.
    size_t nul_line = 0;
    size_t nul_byte = 0;  // 1-based, in its line
    const auto note_nul = [&](const std::string& text, size_t line_number) {
        const size_t at = text.find('\0');
        if (nul_line == 0 && at != std::string::npos) {
            nul_line = line_number;
            nul_byte = at + 1;
        }
    };
    note_nul(*pending_header_, pending_header_line_);
    const std::string_view header = trim_blanks(std::string_view(*pending_header_).substr(1));
    size_t id_end = 0;
    while (id_end < header.size() && !is_blank(header[id_end])) {
        ++id_end;
    }
    record.id = std::string(header.substr(0, id_end));
    record.description = std::string(trim_blanks(header.substr(id_end)));
    pending_header_.reset();

    while (read_line(line)) {
        if (!line.empty() && line[0] == '>') {
            pending_header_ = line;
            pending_header_line_ = line_number_;
            break;
        }
        note_nul(line, line_number_);
        bool line_has_residues = false;
        for (const char c : line) {
            if (is_blank(c)) {
                continue;
            }
            if (!line_has_residues) {
                record.line_starts_.emplace_back(record.residues.size(), line_number_);
                line_has_residues = true;
            }
            if (c >= 'a' && c <= 'z') {
                record.residues += static_cast<char>(c - 'a' + 'A');
                ++record.lowercase;
            } else {
                record.residues += c;
            }
        }
    }
    if (!record.residues.empty() && record.residues.back() == '*') {
        record.residues.pop_back();  // a stop codon from translated sequences
    }

    check_record(record, nul_line, nul_byte);
    return record;
}

std::vector<FastaRecord> read_fasta(const std::string& path) {
    FastaReader reader(path);
    std::vector<FastaRecord> records;
    while (std::optional<FastaRecord> record = reader.next()) {
        records.push_back(std::move(*record));
    }
    return records;
}

}  // namespace embed
