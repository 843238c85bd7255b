// Between stages 1 and 2: which records get embedded. Every problem is the user's input and is
// reported with the file, line and record id; with --skip-invalid the record is left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embed/alphabet.h"
#include "embed/fasta.h"

namespace embed {

/// Invalid records stop the run, or with --skip-invalid are logged as warnings and counted.
class InvalidRecords {
public:
    explicit InvalidRecords(bool skip) : skip_(skip) {}
    /// Throws `error` unless skipping.
    void reject(const InputError& error);
    size_t count() const { return count_; }

private:
    bool skip_;
    size_t count_ = 0;
};

/// A record accepted for embedding.
struct Protein {
    FastaRecord record;
    std::string key;     ///< its dataset name in the output
    int64_t length = 0;  ///< residues embedded (fewer than the record's when truncated)
};

/// Every record of `file` that the readers could parse, through `invalid`: skips or rejects
/// records the reader finds malformed.
std::vector<FastaRecord> read_records(const std::string& file, InvalidRecords& invalid);

/// Keeps the records whose residues are all in `alphabet`, whose id is not a duplicate, and
/// whose output key is valid and unique; the others go to `invalid`.
std::vector<Protein> validate_records(std::vector<FastaRecord> records, const std::string& file,
                                      const Alphabet& alphabet, InvalidRecords& invalid);

/// What to do with proteins longer than --max-length.
enum class LongPolicy {
    truncate,  ///< keep the first max-length residues (esm-extract's behaviour), with a warning
    error,     ///< an invalid record
};

LongPolicy parse_long_policy(const std::string& name);
std::string to_string(LongPolicy policy);

/// Applies --max-length: truncates (a warning naming each record) or rejects through
/// `invalid`. Returns how many were truncated.
size_t limit_lengths(std::vector<Protein>& proteins, const std::string& file, int64_t max_length,
                     LongPolicy policy, InvalidRecords& invalid);

}  // namespace embed
