// FASTA input as embed reads it: records (plain or gzip), then the checks of validation.h.
#include <optional>

#include "base/text.h"
#include "input/validation.h"
#include "models/esm/alphabet.h"

#include "fuzz_support.h"

namespace embed {
namespace {

// A whole-file length limit that some records exceed.
constexpr int64_t kMaxLength = 64;

void check_protein(const Protein& protein) {
    const FastaRecord& record = protein.record;
    fuzz::require(!record.id.empty(), "accepted record without an id");
    for (const char c : record.id) {
        fuzz::require(!is_blank(c), "blank inside an id");
    }
    fuzz::require(!record.residues.empty(), "accepted record without residues");
    for (const char c : record.residues) {
        fuzz::require(!is_blank(c) && !(c >= 'a' && c <= 'z'), "blank or lower case residue");
    }
    fuzz::require(
        protein.length >= 1 && protein.length <= static_cast<int64_t>(record.residues.size()),
        "length outside the record");
    const size_t last_line = record.line_of_residue(record.residues.size() - 1);
    fuzz::require(record.line_of_residue(0) > record.header_line && last_line >= record.header_line,
                  "residue lines before the header");
}

// `path` also names the input in messages, so that every error must name it.
void read_all(const std::string& path, bool skip_invalid, LongPolicy policy) {
    static const Alphabet kEsm{"ESM", esm::alphabet_description(), esm::find_invalid_residue};
    InvalidRecords invalid(skip_invalid, /*quiet=*/true);
    ProteinReader reader(path, path, kEsm, invalid);
    LengthLimit limit(path, kMaxLength, policy, invalid);
    uint64_t expected_index = 0;
    while (std::optional<Protein> protein = reader.next()) {
        fuzz::require(protein->index == expected_index++, "proteins numbered out of order");
        if (limit.apply(*protein)) {
            check_protein(*protein);
        }
    }
}

}  // namespace
}  // namespace embed

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    embed::fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static embed::fuzz::InputFile input;
    const std::string& path = input.write(data, size);
    // Stopping at the first invalid record (the default), and reading on past every one.
    embed::fuzz::expect_clean_errors(
        path, [&] { embed::read_all(path, /*skip_invalid=*/false, embed::LongPolicy::error); });
    embed::fuzz::expect_clean_errors(
        path, [&] { embed::read_all(path, /*skip_invalid=*/true, embed::LongPolicy::truncate); });
    return 0;
}
