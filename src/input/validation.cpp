#include "input/validation.h"

#include <spdlog/spdlog.h>

#include "base/errors.h"
#include "base/text.h"
#include "input/keys.h"

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
    if (!quiet_) {
        spdlog::warn("skipped: {}", error.what());
    }
    ++count_;
}

LongPolicy parse_long_policy(const std::string& name) {
    return parse_named(kLongPolicyNames, "--long", name);
}

std::string to_string(LongPolicy policy) {
    return name_of(kLongPolicyNames, policy);
}

RecordChecker::RecordChecker(std::string file, Alphabet alphabet, InvalidRecords& invalid)
    : file_(std::move(file)),
      alphabet_(std::move(alphabet)),
      invalid_(invalid),
      first_reading_(true) {}

RecordChecker::RecordChecker(std::string file, Alphabet alphabet, InvalidRecords& invalid,
                             Repeats repeats)
    : file_(std::move(file)),
      alphabet_(std::move(alphabet)),
      invalid_(invalid),
      first_reading_(false),
      repeats_(std::move(repeats)) {}

std::optional<Protein> RecordChecker::check(FastaRecord record) {
    const auto reject = [&](const std::string& problem) {
        invalid_.reject(InputError(file_, record.header_line, record.id, problem));
        return std::nullopt;
    };
    const size_t bad = alphabet_.find_invalid(record.residues);
    if (bad != std::string::npos) {
        return reject("residue " + describe_character(record.residues[bad]) + " at position " +
                      std::to_string(bad + 1) + " (line " +
                      std::to_string(record.line_of_residue(bad)) + ") is not in the " +
                      alphabet_.name + " alphabet (" + alphabet_.description + ")");
    }
    std::string key = dataset_key(record.id);
    if (const std::string reason = invalid_key_reason(key); !reason.empty()) {
        return reject(reason);
    }
    if (first_reading_) {
        if (const std::string reason = repeated(record, key); !reason.empty()) {
            repeats_.push_back(record.header_line);
            return reject(reason);
        }
    } else if (next_repeat_ < repeats_.size() && repeats_[next_repeat_] == record.header_line) {
        ++next_repeat_;
        return reject("its id or output key repeats an earlier record's");
    }
    const auto length = static_cast<int64_t>(record.residues.size());
    return Protein{std::move(record), std::move(key), length, accepted_++};
}

std::string RecordChecker::repeated(const FastaRecord& record, const std::string& key) {
    // Most ids are their own key: one table entry each. Only ids holding a '/' also keep their
    // own fingerprint, to tell a repeated id from two ids that share a key.
    constexpr uint64_t kRenamed = uint64_t{1} << 63;
    const bool renamed = key != record.id;
    const Fingerprint key_print = fingerprint(key);
    const auto [first, new_key] =
        line_of_key_.emplace(key_print, record.header_line | (renamed ? kRenamed : 0));
    const uint64_t id_print = fingerprint(record.id).low;
    if (new_key) {
        if (renamed) {
            renamed_id_of_key_.emplace(key_print, id_print);
        }
        return {};
    }
    const bool first_renamed = (first & kRenamed) != 0;
    const bool same_id =
        renamed == first_renamed && (!renamed || *renamed_id_of_key_.find(key_print) == id_print);
    const std::string first_line = std::to_string(first & ~kRenamed);
    if (same_id) {
        return "duplicate id; first seen at line " + first_line;
    }
    return "its output key '" + key + "' ('/' becomes '_') collides with the record at line " +
           first_line;
}

LengthLimit::LengthLimit(std::string file, std::optional<int64_t> max_length, LongPolicy policy,
                         InvalidRecords& invalid)
    : file_(std::move(file)), max_length_(max_length), policy_(policy), invalid_(invalid) {}

bool LengthLimit::apply(Protein& p) {
    if (!max_length_ || p.length <= *max_length_ || policy_ == LongPolicy::chunk) {
        return true;
    }
    const std::string where = fmt::format("{}:{}: record '{}': {} residues", file_,
                                          p.record.header_line, p.record.id, p.length);
    switch (policy_) {
        case LongPolicy::truncate:
            spdlog::warn("{}, truncated to the first {}", where, *max_length_);
            p.length = *max_length_;
            ++truncated_;
            return true;
        case LongPolicy::skip:
            spdlog::warn("{}, longer than --max-length {}: skipped (--long skip)", where,
                         *max_length_);
            ++skipped_;
            return false;
        default:
            invalid_.reject(InputError(
                file_, p.record.header_line, p.record.id,
                std::to_string(p.length) + " residues is longer than --max-length " +
                    std::to_string(*max_length_) +
                    " (--long chunk embeds it in overlapping windows, --long truncate the first " +
                    std::to_string(*max_length_) + ")"));
            return false;
    }
}

ProteinReader::ProteinReader(const std::string& path, const std::string& name,
                             const Alphabet& alphabet, InvalidRecords& invalid)
    : reader_(path, name), checker_(name, alphabet, invalid), invalid_(invalid) {}

ProteinReader::ProteinReader(const std::string& path, const std::string& name,
                             const Alphabet& alphabet, InvalidRecords& invalid,
                             RecordChecker::Repeats repeats)
    : reader_(path, name),
      checker_(name, alphabet, invalid, std::move(repeats)),
      invalid_(invalid) {}

std::optional<Protein> ProteinReader::next() {
    while (true) {
        std::optional<FastaRecord> record;
        try {
            record = reader_.next();
        } catch (const InputError& error) {
            invalid_.reject(error);
            continue;
        }
        if (!record) {
            return std::nullopt;
        }
        lowercase_ += record->lowercase;
        if (std::optional<Protein> protein = checker_.check(std::move(*record))) {
            return protein;
        }
    }
}

}  // namespace embed
