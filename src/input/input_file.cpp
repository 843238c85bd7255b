#include "input/input_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/digest.h"
#include "base/errors.h"
#include "base/fingerprint.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCopyChunkBytes = 1u << 20;

bool is_stream(const std::string& path) {
    std::error_code error;
    const fs::file_type type = fs::status(path, error).type();
    return type == fs::file_type::fifo || type == fs::file_type::character ||
           type == fs::file_type::socket;
}

// The copy could not be written: the stream, the copy and the system's reason.
std::runtime_error cannot_keep(const std::string& name, const std::exception& error) {
    return std::runtime_error("cannot keep " + name + " for its second reading: " + error.what() +
                              " (the copy is written beside the output: write the output where "
                              "there is room and permission, or give the input as a file)");
}

// Copies what `fd` holds, to its end, into `copy`; `name` is the stream's, for messages.
void copy_stream(int fd, const std::string& name, TemporaryFile& copy) {
    std::vector<char> buffer(kCopyChunkBytes);
    while (true) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got == 0) {
            break;
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw std::runtime_error(name + ": cannot read: " + std::strerror(errno));
        }
        try {
            copy.write(buffer.data(), static_cast<size_t>(got));
        } catch (const std::runtime_error& error) {
            throw cannot_keep(name, error);
        }
    }
    try {
        copy.close();
    } catch (const std::runtime_error& error) {
        throw cannot_keep(name, error);
    }
}

// A change to one part of a record changes its fingerprint (but for a 2^-64 chance): each
// part's hash enters through a multiplication by an odd constant, which is a bijection.
uint64_t record_fingerprint(const FastaRecord& record) {
    constexpr uint64_t kDescriptionFactor = 0x9e3779b97f4a7c15ULL;
    constexpr uint64_t kResiduesFactor = 0xc2b2ae3d27d4eb4fULL;
    return fingerprint(record.id).low ^ fingerprint(record.description).low * kDescriptionFactor ^
           fingerprint(record.residues).low * kResiduesFactor;
}

}  // namespace

InputFile::InputFile(const std::string& input, const fs::path& output)
    : name_(input == "-" ? "<stdin>" : input), path_(input) {
    const bool standard_input = input == "-";
    if (!standard_input && !is_stream(input)) {
        return;
    }
    const fs::path copy_path = hidden_path(output, kInputCopy);
    // On an error the copy goes with copy_, as the constructor unwinds.
    try {
        copy_ = std::make_unique<TemporaryFile>(copy_path);
    } catch (const std::runtime_error& error) {
        throw cannot_keep(name_, error);
    }
    if (standard_input) {
        copy_stream(STDIN_FILENO, name_, *copy_);
    } else {
        const int fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            throw std::runtime_error(name_ + ": cannot open: " + std::strerror(errno));
        }
        try {
            copy_stream(fd, name_, *copy_);
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);
    }
    path_ = copy_path.string();
}

InputFile::~InputFile() = default;

void InputScan::check_unchanged(const Protein& protein, const std::string& file) const {
    if (protein.index >= lengths.size() || lengths[protein.index] != protein.length ||
        fingerprints[protein.index] != record_fingerprint(protein.record)) {
        throw InputError(file, protein.record.header_line, protein.record.id,
                         "the file changed while embed was reading it: this record is not the "
                         "one read at its place before the model loaded. Run again once the "
                         "file stays as it is");
    }
}

void InputScan::check_count(size_t accepted, const std::string& file) const {
    if (accepted != lengths.size()) {
        throw InputError(
            file, 0, "",
            "the file changed while embed was reading it: " + std::to_string(lengths.size()) +
                " proteins the first time, " + std::to_string(accepted) + " the second");
    }
}

InputScan scan_input(const InputFile& input, const Alphabet& alphabet, InvalidRecords& invalid) {
    InputScan scan;
    Digest digest(Digest::Algorithm::sha256);
    ProteinReader reader(input.path(), input.name(), alphabet, invalid);
    while (std::optional<Protein> p = reader.next()) {
        scan.lengths.push_back(static_cast<int32_t>(p->length));
        scan.fingerprints.push_back(record_fingerprint(p->record));
        scan.residues += p->length;
        digest.update(p->record.id.data(), p->record.id.size());
        digest.update("\n", 1);
        digest.update(p->record.residues.data(), p->record.residues.size());
        digest.update("\n", 1);
    }
    scan.lowercase = reader.lowercase();
    scan.repeats = reader.repeats();
    scan.digest = digest.hex();
    spdlog::info("read {} proteins ({} residues) from {}", scan.lengths.size(), scan.residues,
                 input.name());
    if (scan.lowercase > 0) {
        spdlog::info("{} lower-case residues were read as upper case", scan.lowercase);
    }
    return scan;
}

}  // namespace embed
