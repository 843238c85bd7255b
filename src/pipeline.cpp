#include "embed/pipeline.h"

#include <chrono>
#include <future>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "embed/batching.h"
#include "embed/encoder.h"
#include "embed/fasta.h"
#include "embed/hdf5_writer.h"
#include "embed/layers.h"
#include "embed/model_registry.h"
#include "embed/model_store.h"
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

// Stage 1: the records of the input, each malformed one reported.
std::vector<FastaRecord> read_input(const std::string& input, const std::string& file,
                                    InvalidRecords& invalid) {
    std::vector<FastaRecord> records = read_records(input, invalid);
    spdlog::info("read {} records from {}", records.size(), file);
    size_t lowercase = 0;
    for (const FastaRecord& record : records) {
        lowercase += record.lowercase;
    }
    if (lowercase > 0) {
        spdlog::info("{} lower-case residues were read as upper case", lowercase);
    }
    return records;
}

std::unique_ptr<Encoder> load_model(const ModelFamily& family, const fs::path& checkpoint,
                                    const EmbedOptions& options) {
    const torch::Device device = select_device(options.device);
    const int threads = options.threads > 0 ? options.threads : available_cpus();
    set_cpu_threads(threads);
    spdlog::info("device {}, {} CPU threads", device.str(), threads);

    const auto start = Clock::now();
    std::unique_ptr<Encoder> encoder =
        family.load(checkpoint, LoadOptions{device, options.contacts});
    const ModelInfo& info = encoder->info();
    spdlog::info("model {} ({}, {}, {} layers, width {}, {:.3g}M parameters) loaded in {:.1f} s",
                 info.name, info.family, info.format, info.num_layers, info.embed_dim,
                 static_cast<double>(info.parameters) / 1e6, seconds_since(start));
    check_against_card(info);
    return encoder;
}

// --max-length as given, or the model's default, within what the model can read.
std::optional<int64_t> applicable_max_length(const ModelInfo& info,
                                             std::optional<int64_t> requested) {
    if (!requested) {
        return info.default_max_residues;
    }
    if (info.max_residues && *info.max_residues < *requested) {
        spdlog::info("{} reads at most {} residues; --max-length lowered from {}", info.family,
                     *info.max_residues, *requested);
        return info.max_residues;
    }
    return requested;
}

// Stage 4: one protein's rows of an encoded batch, and its pooled vectors.
ProteinEmbedding embedding_of(const Protein& p, const EncodedBatch& encoded, int64_t row,
                              const EmbedOptions& options) {
    ProteinEmbedding embedding;
    embedding.key = p.key;
    embedding.original_id = p.record.id;
    embedding.description = p.record.description;
    embedding.length = p.length;
    embedding.original_length = static_cast<int64_t>(p.record.residues.size());
    if (options.per_residue) {
        embedding.per_residue_NLD = encoded.residues_NBLD.select(1, row).narrow(1, 0, p.length);
    }
    if (options.per_protein) {
        embedding.per_protein_ND = pool(encoded, row, p.length, options.pooling);
    }
    if (options.contacts) {
        embedding.contacts_LL =
            encoded.contacts_BLL[row].narrow(0, 0, p.length).narrow(1, 0, p.length);
    }
    return embedding;
}

// Stages 2 to 5: batches through the encoder into the writer.
void embed_all(Encoder& encoder, const std::vector<Protein>& proteins,
               const LayerSelection& selection, const EmbedOptions& options, Hdf5Writer& writer) {
    std::vector<int64_t> lengths;
    int64_t residues = 0;
    for (const Protein& p : proteins) {
        lengths.push_back(p.length);
        residues += p.length;
    }
    const std::vector<Batch> batches =
        plan_batches(lengths, options.max_tokens, encoder.info().extra_tokens_per_sequence);
    spdlog::info("{} proteins, {} residues in {} batches of at most {} tokens", proteins.size(),
                 residues, batches.size(), options.max_tokens);

    EncodeRequest request;
    request.layers = selection.layers;
    request.bos = options.pooling == Pooling::bos;
    request.contacts = options.contacts;
    Progress progress("embedding", residues, "residues", proteins.size(), "proteins");
    for (const Batch& batch : batches) {
        std::vector<std::string_view> residues_B;
        int64_t batch_residues = 0;
        for (const size_t i : batch.items) {
            residues_B.emplace_back(proteins[i].record.residues.data(),
                                    static_cast<size_t>(proteins[i].length));
            batch_residues += proteins[i].length;
        }
        const EncodedBatch encoded = combine_layers(encoder.encode(residues_B, request), selection);
        for (size_t b = 0; b < batch.items.size(); ++b) {
            writer.write(batch.items[b], embedding_of(proteins[batch.items[b]], encoded,
                                                      static_cast<int64_t>(b), options));
        }
        progress.advance(batch_residues, batch.items.size());
    }
    progress.finish();
}

}  // namespace

RunSummary embed_fasta(const EmbedOptions& options) {
    const auto start = Clock::now();
    if (!options.per_residue && !options.per_protein && !options.contacts) {
        throw std::invalid_argument("--no-per-residue and --no-per-protein leave nothing to write");
    }
    if (options.max_length && *options.max_length <= 0) {
        throw std::invalid_argument("--max-length must be positive");
    }
    // Fail before the expensive work if the output cannot be written.
    AtomicOutput output(options.output);

    InvalidRecords invalid(options.skip_invalid);
    const std::string file = options.input == "-" ? "<stdin>" : options.input;
    std::vector<FastaRecord> records = read_input(options.input, file, invalid);
    // A released model's family is known from its card, so the input is checked against its
    // alphabet before anything is downloaded.
    const std::optional<ModelCard> card = released_model(options.model);
    const Alphabet& alphabet =
        (card ? family_of_card(card->family) : find_model_family(options.model)).alphabet;
    std::vector<Protein> proteins = validate_records(std::move(records), file, alphabet, invalid);
    const fs::path checkpoint = resolve_model(
        options.model, ModelLocations::from_environment(options.model_dir), options.offline);
    const ModelFamily& family = find_model_family(checkpoint);

    const std::unique_ptr<Encoder> encoder = load_model(family, checkpoint, options);
    const ModelInfo& info = encoder->info();
    const LayerSelection selection =
        resolve_layers(options.layers, info.num_layers, info.default_layers);
    if (options.pooling == Pooling::bos && !info.has_bos_token) {
        throw std::invalid_argument("--pooling bos: " + info.family + " has no BOS token");
    }
    if (options.contacts && !info.has_contact_head) {
        throw std::invalid_argument(
            "--contacts: " + info.checkpoint.string() + " has no contact regression weights" +
            (info.family == "SeqVec" ? " (SeqVec predicts no contacts)"
                                     : " (for a fair-esm NAME.pt, put NAME-contact-regression.pt "
                                       "beside it, from https://dl.fbaipublicfiles.com/fair-esm/"
                                       "regression/)"));
    }
    RunSummary summary;
    summary.max_length = applicable_max_length(info, options.max_length);
    if (summary.max_length) {
        summary.truncated =
            limit_lengths(proteins, file, *summary.max_length, options.long_policy, invalid);
    }
    summary.skipped = invalid.count();
    if (proteins.empty()) {
        throw InputError(file, 0, "", "no proteins to embed");
    }

    BackgroundChecksum checksum(info.weight_files);
    const auto embed_start = Clock::now();
    Hdf5Writer writer(output.temporary_path(),
                      OutputGroups{options.per_residue, options.per_protein, options.contacts});
    embed_all(*encoder, proteins, selection, options, writer);

    RunAttributes attributes;
    attributes.model = info.name;
    attributes.model_family = info.family;
    attributes.model_format = info.format;
    attributes.checkpoint = fs::weakly_canonical(info.checkpoint).string();
    attributes.checkpoint_sha256 = checksum.get();
    attributes.layers = selection.layers;
    attributes.layer_reduction = selection.reduction();
    attributes.pooling = to_string(options.pooling);
    attributes.embedding_dim = info.embed_dim;
    attributes.max_length = summary.max_length.value_or(0);
    attributes.tool_version = kVersion;
    attributes.command_line = options.command_line;
    writer.finish(attributes);
    output.commit();

    summary.proteins = proteins.size();
    for (const Protein& p : proteins) {
        summary.residues += p.length;
    }
    summary.embedding_seconds = seconds_since(embed_start);
    summary.seconds = seconds_since(start);
    return summary;
}

}  // namespace embed
