// Stage 1, the input as a whole: kept for two readings, and the first reading's record of it,
// against which the second reading checks every protein before it is embedded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/file.h"
#include "input/alphabet.h"
#include "input/validation.h"

namespace embed {

/// The input, readable twice. Standard input and other streams that can be read only once (a
/// pipe, such as bash's <(zcat x.fasta.gz)) are copied to a temporary file beside the output,
/// removed with this object or by the signal handler of remove_partial_outputs_on_interrupt.
class InputFile {
public:
    /// `input`: a path or "-". Throws std::runtime_error naming the stream, the copy and the
    /// system's reason when the copy cannot be written (a full disk, a read-only directory).
    InputFile(const std::string& input, const std::filesystem::path& output);
    ~InputFile();
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    /// For messages: the path, or "<stdin>".
    const std::string& name() const { return name_; }
    /// What to read: the path, or the copy's.
    const std::string& path() const { return path_; }

private:
    std::string name_;
    std::string path_;
    std::unique_ptr<TemporaryFile> copy_;
};

/// What the first reading learns.
struct InputScan {
    std::vector<int32_t> lengths;  ///< of each accepted protein, in input order
    /// Of each accepted protein's id, description and residues (8 bytes a protein), so that
    /// the second reading embeds exactly what `digest` describes.
    std::vector<uint64_t> fingerprints;
    int64_t residues = 0;
    std::string digest;  ///< SHA-256 over ids and residues: the output's input_digest
    size_t lowercase = 0;
    RecordChecker::Repeats repeats;  ///< for the second reading

    /// Throws InputError naming `protein` when a later reading of `file` found it other than
    /// the first reading did at its index (the file changed in between).
    void check_unchanged(const Protein& protein, const std::string& file) const;
    /// Throws InputError when a later reading of `file` accepted `accepted` proteins in all,
    /// not as many as the first.
    void check_count(size_t accepted, const std::string& file) const;
};

/// The first reading: every record checked through `invalid`, the accepted ones recorded.
InputScan scan_input(const InputFile& input, const Alphabet& alphabet, InvalidRecords& invalid);

}  // namespace embed
