// Stage 1, continued: which records get embedded. Every problem is the user's input and is
// reported with the file, line and record id; with --skip-invalid the record is left out.
// Records are checked one at a time, so a file of any size streams through in bounded memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fingerprint.h"
#include "base/names.h"
#include "input/alphabet.h"
#include "input/fasta.h"

namespace embed {

/// Invalid records stop the run, or with --skip-invalid are logged as warnings and counted.
class InvalidRecords {
public:
    /// `quiet`: count skipped records without a warning (a second reading of the input).
    explicit InvalidRecords(bool skip, bool quiet = false) : skip_(skip), quiet_(quiet) {}
    /// Throws `error` unless skipping.
    void reject(const InputError& error);
    size_t count() const { return count_; }

private:
    bool skip_;
    bool quiet_;
    size_t count_ = 0;
};

/// A record accepted for embedding.
struct Protein {
    FastaRecord record;
    std::string key;     ///< its dataset name in the output
    int64_t length = 0;  ///< residues embedded (fewer than the record's when truncated)
    /// Its position among the input's accepted proteins: the order of the output, and how a
    /// resumed run or a merge knows which proteins are done.
    uint64_t index = 0;
};

/// What to do with proteins longer than --max-length.
enum class LongPolicy {
    chunk,     ///< overlapping windows, stitched back together (the default)
    truncate,  ///< keep the first max-length residues (esm-extract's behaviour), with a warning
    skip,      ///< leave the protein out, with a warning
    error,     ///< an invalid record
};

/// --long's values, and the `long_policy` attribute's.
inline constexpr NameTable<LongPolicy, 4> kLongPolicyNames{{{"chunk", LongPolicy::chunk},
                                                            {"truncate", LongPolicy::truncate},
                                                            {"skip", LongPolicy::skip},
                                                            {"error", LongPolicy::error}}};

/// A name of kLongPolicyNames; throws BadInput otherwise.
LongPolicy parse_long_policy(const std::string& name);
std::string to_string(LongPolicy policy);

/// The checks of one input file: residues in the alphabet, ids and output keys unique. The
/// first reading remembers each output key as a fingerprint (about 40 bytes a record), not as
/// a string, and lists the records it rejected for a repeated id or key; a later reading of the
/// same file is handed that list and remembers nothing.
class RecordChecker {
public:
    /// Header lines of the records rejected for a repeated id or output key, in file order.
    using Repeats = std::vector<size_t>;

    /// A first reading: every check.
    RecordChecker(std::string file, Alphabet alphabet, InvalidRecords& invalid);
    /// A later reading of the same file: the first reading's `repeats` are rejected again.
    RecordChecker(std::string file, Alphabet alphabet, InvalidRecords& invalid, Repeats repeats);

    /// The record as a protein numbered in order of acceptance, or nullopt when rejected
    /// through `invalid`.
    std::optional<Protein> check(FastaRecord record);
    size_t accepted() const { return accepted_; }
    const Repeats& repeats() const { return repeats_; }

private:
    /// The reason `record`, whose output key is `key`, repeats an earlier one, or "".
    std::string repeated(const FastaRecord& record, const std::string& key);

    std::string file_;
    Alphabet alphabet_;
    InvalidRecords& invalid_;
    bool first_reading_;
    // key -> header line, with kRenamed set when the id is not the key (it holds a '/')
    FingerprintMap line_of_key_;
    // key -> the low half of the id's fingerprint, for those ids only
    FingerprintMap renamed_id_of_key_;
    Repeats repeats_;
    size_t next_repeat_ = 0;  // in a later reading
    size_t accepted_ = 0;
};

/// --max-length: whether `protein` is embedded, and how much of it. Truncation and skipping
/// are warnings naming the record; --long error rejects it through `invalid`.
class LengthLimit {
public:
    LengthLimit(std::string file, std::optional<int64_t> max_length, LongPolicy policy,
                InvalidRecords& invalid);
    /// False when the protein is left out.
    bool apply(Protein& protein);
    size_t truncated() const { return truncated_; }
    size_t skipped() const { return skipped_; }

private:
    std::string file_;
    std::optional<int64_t> max_length_;
    LongPolicy policy_;
    InvalidRecords& invalid_;
    size_t truncated_ = 0;
    size_t skipped_ = 0;
};

/// The accepted proteins of a FASTA file, one at a time.
class ProteinReader {
public:
    /// `name` is used in messages ("<stdin>" for "-").
    ProteinReader(const std::string& path, const std::string& name, const Alphabet& alphabet,
                  InvalidRecords& invalid);
    /// A later reading of the same file, given the first reading's repeats().
    ProteinReader(const std::string& path, const std::string& name, const Alphabet& alphabet,
                  InvalidRecords& invalid, RecordChecker::Repeats repeats);
    std::optional<Protein> next();
    /// Upper-case residues that were lower case in the file, so far.
    size_t lowercase() const { return lowercase_; }
    const RecordChecker::Repeats& repeats() const { return checker_.repeats(); }
    size_t accepted() const { return checker_.accepted(); }

private:
    FastaReader reader_;
    RecordChecker checker_;
    InvalidRecords& invalid_;
    size_t lowercase_ = 0;
};

}  // namespace embed
