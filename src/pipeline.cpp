#include "embed/pipeline.h"

#include <chrono>
#include <future>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "embed/batching.h"
#include "embed/encoder.h"
#include "embed/fasta.h"
#include "embed/hdf5_writer.h"
#include "embed/layers.h"
#include "embed/model_registry.h"
#include "embed/progress.h"
#include "embed/runtime.h"
#include "embed/util/file.h"
#include "embed/util/sha256.h"
#include "embed/version.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// A record that passed validation, with the length it is embedded at.
struct Protein {
    FastaRecord record;
    std::string key;
    int64_t length = 0;
};

// Invalid records stop the run, or with --skip-invalid are logged, counted and left out.
class InvalidRecords {
public:
    explicit InvalidRecords(bool skip) : skip_(skip) {}

    void reject(const InputError& error) {
        if (!skip_) {
            throw error;
        }
        spdlog::warn("skipped: {}", error.what());
        ++count_;
    }
    size_t count() const { return count_; }

private:
    bool skip_;
    size_t count_ = 0;
};

std::vector<FastaRecord> read_records(const std::string& input, InvalidRecords& invalid) {
    FastaReader reader(input);
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

std::string describe_character(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x21 && byte < 0x7F) {
        return std::string("'") + c + "'";
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 15];
}

// Checks each record against the model and the output layout, and applies --max-length.
std::vector<Protein> select_proteins(std::vector<FastaRecord> records, const std::string& file,
                                     const Encoder& encoder, const EmbedOptions& options,
                                     int64_t max_length, InvalidRecords& invalid,
                                     RunSummary& summary) {
    std::vector<Protein> proteins;
    std::unordered_map<std::string, size_t> first_line_of_id;
    std::unordered_map<std::string, std::string> id_of_key;
    size_t lowercase = 0;
    for (FastaRecord& record : records) {
        const auto reject = [&](const std::string& problem) {
            invalid.reject(InputError(file, record.header_line, record.id, problem));
        };
        const size_t bad = encoder.find_invalid_residue(record.residues);
        if (bad != std::string::npos) {
            reject("residue " + describe_character(record.residues[bad]) + " at position " +
                   std::to_string(bad + 1) + " (line " +
                   std::to_string(record.line_of_residue(bad)) + ") is not in the " +
                   encoder.info().family + " alphabet (" + encoder.alphabet_description() + ")");
            continue;
        }
        const auto [previous, unique_id] = first_line_of_id.emplace(record.id, record.header_line);
        if (!unique_id) {
            reject("duplicate id; first seen at line " + std::to_string(previous->second));
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
        auto length = static_cast<int64_t>(record.residues.size());
        if (length > max_length) {
            if (options.long_policy == LongPolicy::error) {
                reject(std::to_string(length) + " residues is longer than --max-length " +
                       std::to_string(max_length) + " (use --long truncate to embed the first " +
                       std::to_string(max_length) + ")");
                continue;
            }
            spdlog::warn("{}:{}: record '{}': {} residues, truncated to the first {}", file,
                         record.header_line, record.id, length, max_length);
            length = max_length;
            ++summary.truncated;
        }
        lowercase += record.lowercase;
        proteins.push_back(Protein{std::move(record), std::move(key), length});
    }
    if (lowercase > 0) {
        spdlog::info("{} lower-case residues were read as upper case", lowercase);
    }
    return proteins;
}

// SHA-256 of the weights, computed while the model runs; abandoned if the run fails.
class BackgroundChecksum {
public:
    explicit BackgroundChecksum(std::vector<fs::path> files)
        : result_(std::async(std::launch::async, [this, files = std::move(files)] {
              return sha256_files(files, &cancel_);
          })) {}
    ~BackgroundChecksum() {
        cancel_ = true;
        if (result_.valid()) {
            result_.wait();
        }
    }
    BackgroundChecksum(const BackgroundChecksum&) = delete;
    BackgroundChecksum& operator=(const BackgroundChecksum&) = delete;

    std::string get() { return result_.get(); }

private:
    std::atomic<bool> cancel_{false};
    std::future<std::string> result_;
};

void check_against_card(const ModelInfo& info) {
    const std::optional<ModelCard> card = find_model_card(info.name);
    if (card && (card->layers != info.num_layers || card->embedding_dim != info.embed_dim)) {
        spdlog::warn(
            "{} is named like the released {} but has {} layers of width {} (the "
            "released model has {} of width {})",
            info.checkpoint.string(), card->name, info.num_layers, info.embed_dim, card->layers,
            card->embedding_dim);
    }
}

}  // namespace

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

RunSummary embed_fasta(const EmbedOptions& options) {
    const auto start = Clock::now();
    RunSummary summary;
    if (!options.per_residue && !options.per_protein) {
        throw std::invalid_argument("--no-per-residue and --no-per-protein leave nothing to write");
    }
    if (options.max_length <= 0) {
        throw std::invalid_argument("--max-length must be positive");
    }
    // Fail before the expensive work if the output cannot be written.
    AtomicOutput output(options.output);

    InvalidRecords invalid(options.skip_invalid);
    const std::string file = options.input == "-" ? "<stdin>" : options.input;
    std::vector<FastaRecord> records = read_records(options.input, invalid);
    spdlog::info("read {} records from {}", records.size(), file);

    const torch::Device device = select_device(options.device);
    const int threads = options.threads > 0 ? options.threads : available_cpus();
    set_cpu_threads(threads);
    spdlog::info("device {}, {} CPU threads", device.str(), threads);

    const auto load_start = Clock::now();
    std::unique_ptr<Encoder> encoder = load_encoder(options.model, LoadOptions{device});
    const ModelInfo& info = encoder->info();
    spdlog::info("model {} ({}, {}, {} layers, width {}, {:.3g}M parameters) loaded in {:.1f} s",
                 info.name, info.family, info.format, info.num_layers, info.embed_dim,
                 static_cast<double>(info.parameters) / 1e6, seconds_since(load_start));
    check_against_card(info);

    const std::vector<int64_t> layers = resolve_layers(options.layers, info.num_layers);
    if (options.pooling == Pooling::bos && !info.has_bos_token) {
        throw std::invalid_argument("--pooling bos: " + info.family + " has no BOS token");
    }
    int64_t max_length = options.max_length;
    if (info.max_residues && *info.max_residues < max_length) {
        spdlog::info("{} reads at most {} residues; --max-length lowered from {}", info.family,
                     *info.max_residues, max_length);
        max_length = *info.max_residues;
    }

    const std::vector<Protein> proteins =
        select_proteins(std::move(records), file, *encoder, options, max_length, invalid, summary);
    summary.skipped = invalid.count();
    if (proteins.empty()) {
        throw InputError(file, 0, "", "no proteins to embed");
    }

    BackgroundChecksum checksum(info.weight_files);
    std::vector<int64_t> lengths;
    for (const Protein& p : proteins) {
        lengths.push_back(p.length);
        summary.residues += p.length;
    }
    const std::vector<Batch> batches =
        plan_batches(lengths, options.max_tokens, info.extra_tokens_per_sequence);
    spdlog::info("{} proteins, {} residues in {} batches of at most {} tokens", proteins.size(),
                 summary.residues, batches.size(), options.max_tokens);

    const auto embed_start = Clock::now();
    Hdf5Writer writer(output.temporary_path(), options.per_residue, options.per_protein);
    Progress progress(proteins.size(), summary.residues);
    const EncodeRequest request{layers, options.pooling == Pooling::bos};
    for (const Batch& batch : batches) {
        std::vector<std::string_view> residues_B;
        for (const size_t i : batch.items) {
            residues_B.emplace_back(proteins[i].record.residues.data(),
                                    static_cast<size_t>(proteins[i].length));
        }
        const EncodedBatch encoded = encoder->encode(residues_B, request);
        int64_t batch_residues = 0;
        for (size_t b = 0; b < batch.items.size(); ++b) {
            const Protein& p = proteins[batch.items[b]];
            ProteinEmbedding embedding;
            embedding.key = p.key;
            embedding.original_id = p.record.id;
            embedding.description = p.record.description;
            embedding.length = p.length;
            embedding.original_length = static_cast<int64_t>(p.record.residues.size());
            const auto row = static_cast<int64_t>(b);
            if (options.per_residue) {
                embedding.per_residue_NLD =
                    encoded.residues_NBLD.select(1, row).narrow(1, 0, p.length);
            }
            if (options.per_protein) {
                embedding.per_protein_ND = pool(encoded, row, p.length, options.pooling);
            }
            writer.write(batch.items[b], embedding);
            batch_residues += p.length;
        }
        progress.advance(batch.items.size(), batch_residues);
    }
    progress.finish();

    RunAttributes attributes;
    attributes.model = info.name;
    attributes.model_family = info.family;
    attributes.model_format = info.format;
    attributes.checkpoint = fs::weakly_canonical(info.checkpoint).string();
    attributes.checkpoint_sha256 = checksum.get();
    attributes.layers = layers;
    attributes.pooling = to_string(options.pooling);
    attributes.embedding_dim = info.embed_dim;
    attributes.max_length = max_length;
    attributes.tool_version = kVersion;
    attributes.command_line = options.command_line;
    writer.finish(attributes);
    output.commit();

    summary.proteins = proteins.size();
    summary.max_length = max_length;
    summary.embedding_seconds = seconds_since(embed_start);
    summary.seconds = seconds_since(start);
    return summary;
}

}  // namespace embed
