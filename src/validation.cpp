#include "embed/validation.h"

#include <unordered_map>

#include <spdlog/spdlog.h>

#include "embed/hdf5_writer.h"
#include "embed/util/text.h"

namespace embed {
namespace {

std::string describe_character(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > ' ' && byte < 0x7F) {
        return std::string("'") + c + "'";
    }
    return "byte 0x" + hex_byte(byte);
}

}  // namespace

void InvalidRecords::reject(const InputError& error) {
    if (!skip_) {
        throw error;
    }
    spdlog::warn("skipped: {}", error.what());
    ++count_;
}

std::vector<FastaRecord> read_records(const std::string& file, InvalidRecords& invalid) {
    FastaReader reader(file);
    std::vector<FastaRecord> records;
    while (true) {
        try {
            std::optional<FastaRecord> record = reader.next();
            if (!record) {
                return records;
            }
            records.push_back(std::move(*record));
        } catch (const InputError& error) {
            invalid.reject(error);
        }
    }
}

std::vector<Protein> validate_records(std::vector<FastaRecord> records, const std::string& file,
                                      const Alphabet& alphabet, InvalidRecords& invalid) {
    std::vector<Protein> proteins;
    std::unordered_map<std::string, size_t> line_of_id;
    std::unordered_map<std::string, std::string> id_of_key;
    for (FastaRecord& record : records) {
        const auto reject = [&](const std::string& problem) {
            invalid.reject(InputError(file, record.header_line, record.id, problem));
        };
        const size_t bad = alphabet.find_invalid(record.residues);
        if (bad != std::string::npos) {
            reject("residue " + describe_character(record.residues[bad]) + " at position " +
                   std::to_string(bad + 1) + " (line " +
                   std::to_string(record.line_of_residue(bad)) + ") is not in the " +
                   alphabet.name + " alphabet (" + alphabet.description + ")");
            continue;
        }
        const auto [first, unique_id] = line_of_id.emplace(record.id, record.header_line);
        if (!unique_id) {
            reject("duplicate id; first seen at line " + std::to_string(first->second));
            continue;
        }
        std::string key = dataset_key(record.id);
        if (const std::string reason = invalid_key_reason(key); !reason.empty()) {
            reject(reason);
            continue;
        }
        const auto [other, unique_key] = id_of_key.emplace(key, record.id);
        if (!unique_key) {
            reject("its output key '" + key + "' ('/' becomes '_') collides with record '" +
                   other->second + "'");
            continue;
        }
        const auto length = static_cast<int64_t>(record.residues.size());
        proteins.push_back(Protein{std::move(record), std::move(key), length});
    }
    return proteins;
}

LongPolicy parse_long_policy(const std::string& name) {
    if (name == "truncate") {
        return LongPolicy::truncate;
    }
    if (name == "error") {
        return LongPolicy::error;
    }
    throw std::invalid_argument("--long: '" + name + "' is not one of truncate, error");
}

std::string to_string(LongPolicy policy) {
    return policy == LongPolicy::truncate ? "truncate" : "error";
}

size_t limit_lengths(std::vector<Protein>& proteins, const std::string& file, int64_t max_length,
                     LongPolicy policy, InvalidRecords& invalid) {
    size_t truncated = 0;
    std::vector<Protein> kept;
    for (Protein& p : proteins) {
        if (p.length > max_length) {
            if (policy == LongPolicy::error) {
                invalid.reject(InputError(
                    file, p.record.header_line, p.record.id,
                    std::to_string(p.length) + " residues is longer than --max-length " +
                        std::to_string(max_length) + " (use --long truncate to embed the first " +
                        std::to_string(max_length) + ")"));
                continue;
            }
            spdlog::warn("{}:{}: record '{}': {} residues, truncated to the first {}", file,
                         p.record.header_line, p.record.id, p.length, max_length);
            p.length = max_length;
            ++truncated;
        }
        kept.push_back(std::move(p));
    }
    proteins = std::move(kept);
    return truncated;
}

}  // namespace embed
