#include "embed/fasta.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <unistd.h>

#include <zlib.h>

#include "embed/util/text.h"

namespace embed {
namespace {

constexpr unsigned kGzipBufferBytes = 1u << 18;
constexpr size_t kReadChunkBytes = 1u << 16;

// Editors on Windows start UTF-8 files with a byte-order mark.
constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";

}  // namespace

// Lines from a file or stdin; zlib reads uncompressed input unchanged, so one path serves both.
class FastaReader::Source {
public:
    explicit Source(const std::string& path) {
        if (path == "-") {
            const int fd = ::dup(STDIN_FILENO);
            file_ = fd < 0 ? nullptr : gzdopen(fd, "rb");
        } else {
            file_ = gzopen(path.c_str(), "rb");
        }
        if (file_ == nullptr) {
            throw InputError(path == "-" ? "<stdin>" : path, 0, "",
                             std::string("cannot open: ") + std::strerror(errno));
        }
        gzbuffer(file_, kGzipBufferBytes);
    }
    ~Source() { gzclose(file_); }
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;

    // False at the end of input. The line excludes "\n" and a preceding "\r".
    bool read_line(std::string& line, const std::string& name, size_t line_number) {
        line.clear();
        while (true) {
            if (pos_ == end_) {
                if (!fill(name, line_number)) {
                    if (line.empty() && !partial_) {
                        return false;
                    }
                    partial_ = false;
                    break;
                }
            }
            const char* start = buffer_ + pos_;
            const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
            if (newline == nullptr) {
                line.append(start, end_ - pos_);
                pos_ = end_;
                partial_ = true;
                continue;
            }
            line.append(start, newline - start);
            pos_ += static_cast<size_t>(newline - start) + 1;
            partial_ = false;
            break;
        }
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        return true;
    }

private:
    // Read and decompression errors are not a bad record to skip: they end the run.
    bool fill(const std::string& name, size_t line_number) {
        const int got = gzread(file_, buffer_, kReadChunkBytes);
        int code = Z_OK;
        const char* message = gzerror(file_, &code);
        // A truncated gzip stream reads to its end and then reports Z_BUF_ERROR.
        if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
            throw std::runtime_error(name + ":" + std::to_string(line_number) +
                                     ": cannot read the input (truncated or corrupt gzip "
                                     "data?): " +
                                     (code == Z_ERRNO ? std::strerror(errno) : message));
        }
        pos_ = 0;
        end_ = static_cast<size_t>(got);
        return got > 0;
    }

    gzFile file_ = nullptr;
    char buffer_[kReadChunkBytes];
    size_t pos_ = 0;
    size_t end_ = 0;
    bool partial_ = false;
};

size_t FastaRecord::line_of_residue(size_t index) const {
    const auto after = std::upper_bound(
        line_starts_.begin(), line_starts_.end(), index,
        [](size_t i, const std::pair<size_t, size_t>& start) { return i < start.first; });
    return after == line_starts_.begin() ? header_line : std::prev(after)->second;
}

FastaReader::FastaReader(const std::string& path)
    : source_(std::make_unique<Source>(path)), name_(path == "-" ? "<stdin>" : path) {}

FastaReader::~FastaReader() = default;

bool FastaReader::read_line(std::string& line) {
    if (!source_->read_line(line, name_, line_number_ + 1)) {
        return false;
    }
    ++line_number_;
    return true;
}

std::optional<FastaRecord> FastaReader::next() {
    std::string line;
    if (!checked_preamble_) {
        checked_preamble_ = true;
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
    if (!pending_header_) {
        return std::nullopt;
    }

    FastaRecord record;
    record.header_line = pending_header_line_;
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

    if (record.id.empty()) {
        throw InputError(name_, record.header_line, "", "header without an id");
    }
    if (record.residues.empty()) {
        throw InputError(
            name_, record.header_line, record.id,
            record.line_starts_.empty() ? "header without a sequence" : "empty sequence");
    }
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
