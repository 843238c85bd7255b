// Stage 1: proteins from FASTA. Plain or gzip-compressed files, or standard input.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/errors.h"

namespace embed {

struct FastaRecord {
    std::string id;           ///< header up to the first whitespace
    std::string description;  ///< the rest of the header, trimmed
    std::string residues;     ///< upper-cased, whitespace and a trailing '*' removed
    size_t header_line = 0;   ///< 1-based line of the '>' header
    size_t lowercase = 0;     ///< residues that were lower case in the file

    /// 1-based file line that holds residue `index` (0-based), for error messages.
    size_t line_of_residue(size_t index) const;

private:
    friend class FastaReader;
    /// For each sequence line: the index of its first residue and its line number.
    std::vector<std::pair<size_t, size_t>> line_starts_;
};

/// Reads records one at a time. Lines end at "\n", "\r\n" or a lone "\r". Structural problems
/// (text before the first header, a header without an id, a record without residues, a NUL
/// byte) throw InputError after the offending record has been consumed, so a caller may log it
/// and go on to the next record. A file that cannot be read (I/O error, truncated or corrupt
/// gzip, bytes after the gzip data that are not another gzip member) throws
/// std::runtime_error: no record after it can be trusted.
class FastaReader {
public:
    /// `path` "-" reads standard input; gzip input is detected from its content. A path that
    /// does not exist, or names a directory, throws InputError; a file that exists but cannot
    /// be opened throws std::runtime_error. `name` is the input's in messages, when `path` is
    /// a copy of it (of standard input, say); by default the path, or "<stdin>" for "-".
    explicit FastaReader(const std::string& path, std::string name = "");
    ~FastaReader();
    FastaReader(const FastaReader&) = delete;
    FastaReader& operator=(const FastaReader&) = delete;

    /// The next record, or nullopt at the end of the input.
    std::optional<FastaRecord> next();
    /// The name used in messages ("<stdin>" for "-").
    const std::string& name() const { return name_; }

private:
    bool read_line(std::string& line);
    void check_preamble();
    void check_record(const FastaRecord& record, size_t nul_line, size_t nul_byte) const;

    class Source;
    std::string name_;
    std::unique_ptr<Source> source_;
    size_t line_number_ = 0;
    std::optional<std::string> pending_header_;
    size_t pending_header_line_ = 0;
    bool checked_preamble_ = false;
};

/// Reads every record, for small inputs and tests.
std::vector<FastaRecord> read_fasta(const std::string& path);

}  // namespace embed
