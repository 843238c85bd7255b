// Stage 1: proteins from FASTA. Plain or gzip-compressed files, or standard input.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embed/errors.h"

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

/// Reads records one at a time. Structural problems (text before the first header, a header
/// without an id, a record without residues) throw InputError after the offending record has
/// been consumed, so a caller may log it and go on to the next record. A file that cannot be
/// read (I/O error, truncated or corrupt gzip) throws std::runtime_error: no record after it
/// can be trusted.
class FastaReader {
public:
    /// `path` "-" reads standard input; gzip input is detected from its content.
    explicit FastaReader(const std::string& path);
    ~FastaReader();
    FastaReader(const FastaReader&) = delete;
    FastaReader& operator=(const FastaReader&) = delete;

    /// The next record, or nullopt at the end of the input.
    std::optional<FastaRecord> next();
    /// The name used in messages ("<stdin>" for "-").
    const std::string& name() const { return name_; }

private:
    bool read_line(std::string& line);

    class Source;
    std::unique_ptr<Source> source_;
    std::string name_;
    size_t line_number_ = 0;
    std::optional<std::string> pending_header_;
    size_t pending_header_line_ = 0;
    bool checked_preamble_ = false;
};

/// Reads every record, for small inputs and tests.
std::vector<FastaRecord> read_fasta(const std::string& path);

}  // namespace embed
