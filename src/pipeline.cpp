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
    size_t lowercase = 0;
    for (const FastaRecord& record : records) {
        lowercase += record.lowercase;
    }
    if (lowercase > 0) {
        spdlog::info("{} lower-case residues were read as upper case", lowercase);
    }
    const ModelFamily& family = find_model_family(options.model);
    std::vector<Protein> proteins =
        validate_records(std::move(records), file, family.alphabet, invalid);

    const torch::Device device = select_device(options.device);
    const int threads = options.threads > 0 ? options.threads : available_cpus();
    set_cpu_threads(threads);
    spdlog::info("device {}, {} CPU threads", device.str(), threads);

    const auto load_start = Clock::now();
    const std::unique_ptr<Encoder> encoder = family.load(options.model, LoadOptions{device});
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
    summary.truncated = limit_lengths(proteins, file, max_length, options.long_policy, invalid);
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
    Hdf5Writer writer(output.temporary_path(),
                      OutputGroups{options.per_residue, options.per_protein});
    Progress progress(proteins.size(), summary.residues);
    EncodeRequest request;
    request.layers = layers;
    request.bos = options.pooling == Pooling::bos;
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
