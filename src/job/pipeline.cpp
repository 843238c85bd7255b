#include "job/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <stdexcept>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "base/cpus.h"
#include "base/digest.h"
#include "base/errors.h"
#include "base/file.h"
#include "base/progress.h"
#include "base/text.h"
#include "base/version.h"
#include "encode/encoder.h"
#include "encode/encoder_backoff.h"
#include "encode/layers.h"
#include "encode/long_protein_stitching.h"
#include "encode/out_of_memory.h"
#include "encode/runtime.h"
#include "hub/model_registry.h"
#include "hub/model_store.h"
#include "input/batching.h"
#include "input/fasta.h"
#include "input/input_file.h"
#include "input/long_proteins.h"
#include "input/sharding.h"
#include "models/families.h"
#include "output/merge.h"
#include "output/output_parts.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How often the pages of freed memory go back to the kernel between batches (see
// return_freed_memory): every batch of a large model, seldom enough for a small one's batches of
// a fraction of a second not to fault their memory in again each time.
constexpr double kSecondsBetweenMemoryReturns = 10;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// SHA-256 of the weights, computed while the model runs; abandoned if the run fails.
class BackgroundChecksum {
public:
    explicit BackgroundChecksum(std::vector<fs::path> files)
        : result_(std::async(std::launch::async, [this, files = std::move(files)] {
                      return sha256_files(files, &cancel_);
                  }).share()) {}
    ~BackgroundChecksum() {
        cancel_ = true;
        if (result_.valid()) {
            result_.wait();
        }
    }
    BackgroundChecksum(const BackgroundChecksum&) = delete;
    BackgroundChecksum& operator=(const BackgroundChecksum&) = delete;

    /// Waits for the digest; rethrows an error reading the files.
    const std::string& get() const { return result_.get(); }
    /// For another thread to wait on.
    std::shared_future<std::string> future() const { return result_; }

private:
    std::atomic<bool> cancel_{false};
    std::shared_future<std::string> result_;
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

// --threads, at most the CPUs the process may run on: more threads than CPUs only take turns,
// and thousands of them (--threads 10000 on 2 CPUs) spent minutes handing the CPUs around.
int cpu_threads(int requested) {
    if (requested <= 0) {
        return default_threads();
    }
    const int cpus = available_cpus();
    if (requested > cpus) {
        spdlog::warn("--threads {}: this process may run on {} CPUs; using {} threads", requested,
                     cpus, cpus);
        return cpus;
    }
    return requested;
}

std::unique_ptr<Encoder> load_model(const ModelFamily& family, const fs::path& checkpoint,
                                    const EmbedOptions& options) {
    const torch::Device device = select_device(options.device);
    const torch::ScalarType dtype = options.dtype;
    check_compute_dtype(dtype, device);
    const int threads = cpu_threads(options.threads);
    set_cpu_threads(threads);
    spdlog::info("device {}, {}, {} CPU threads", device.str(), dtype_name(dtype), threads);
    if (dtype == torch::kBFloat16 && device.is_cpu()) {
        if (const std::string slow = slow_cpu_bfloat16(); !slow.empty()) {
            spdlog::warn("--dtype bfloat16: {}", slow);
        }
    }
    if (device.is_cpu()) {
        if (const std::string held_back = held_back_openblas(); !held_back.empty()) {
            spdlog::warn("{}", held_back);
        }
    }

    const auto start = Clock::now();
    std::unique_ptr<Encoder> encoder;
    try {
        encoder = family.load(checkpoint, LoadOptions{device, dtype, options.contacts});
    } catch (...) {
        rethrow_out_of_memory(
            "loading " + checkpoint.string() + " (" + family.name + ") on " + device.str(),
            device.is_cpu() ? "the model needs a machine or job with more memory"
                            : "the model needs a device with more memory, or --device cpu");
    }
    if (device.is_cuda()) {
        // LibTorch's CPU kernels have no float16: the fallback computes in float32 then.
        const LoadOptions on_cpu{torch::kCPU, dtype == torch::kFloat16 ? torch::kFloat32 : dtype,
                                 options.contacts};
        encoder = std::make_unique<OutOfMemoryBackoff>(
            std::move(encoder),
            [&family, checkpoint, on_cpu] { return family.load(checkpoint, on_cpu); });
    }
    const ModelInfo& info = encoder->info();
    spdlog::info("model {} ({}, {}, {} layers, width {}, {:.3g}M parameters) loaded in {:.2f} s",
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

std::string group_list(const EmbedOptions& options) {
    std::string out;
    for (const auto& [wanted, name] :
         {std::pair{options.per_residue, "per_residue"},
          std::pair{options.per_protein, "per_protein"}, std::pair{options.contacts, "contacts"}}) {
        if (wanted) {
            out += (out.empty() ? "" : ",") + std::string(name);
        }
    }
    return out;
}

// One protein (or window of one) in a batch.
struct Piece {
    size_t slot;  // the protein's place in the window
    Window window;
    size_t window_number;
};

// Stages 2 to 5 for the proteins of the input, one sort window at a time.
class EmbeddingRun {
public:
    EmbeddingRun(Encoder& encoder, const LayerSelection& selection, const EmbedOptions& options,
                 std::optional<int64_t> window_limit, OutputWriter& writer, RunSummary& summary)
        : encoder_(encoder),
          selection_(selection),
          options_(options),
          window_limit_(window_limit),
          max_tokens_(options.max_tokens.value_or(encoder.info().default_max_tokens)),
          writer_(writer),
          summary_(summary) {
        request_.layers = selection.layers;
        request_.bos = options.pooling == Pooling::bos;
        request_.contacts = options.contacts;
        // Once, not by doubling among the model's buffers, where it would leave holes.
        window_.reserve(options.sort_window);
    }

    void add(Protein protein) { window_.push_back(std::move(protein)); }
    void add_alias(AliasEntry alias) { aliases_.push_back(std::move(alias)); }
    bool window_full() const { return window_.size() >= options_.sort_window; }

    /// Embeds the window's proteins and writes them; false when a stop was requested.
    bool run_window(Progress& progress) {
        if (window_.empty() && aliases_.empty()) {
            return stop_requested() == 0;
        }
        std::vector<Piece> pieces;
        std::vector<int64_t> lengths;
        stitching_.assign(window_.size(), std::nullopt);
        for (size_t slot = 0; slot < window_.size(); ++slot) {
            const Protein& p = window_[slot];
            std::vector<Window> windows = window_limit_ && options_.long_policy == LongPolicy::chunk
                                              ? windows_of(p.length, *window_limit_)
                                              : std::vector<Window>{Window{0, p.length}};
            for (size_t w = 0; w < windows.size(); ++w) {
                pieces.push_back(Piece{slot, windows[w], w});
                lengths.push_back(windows[w].length);
            }
            if (windows.size() > 1) {
                ++summary_.chunked;
                spdlog::info("record '{}': {} residues, embedded in {} overlapping windows of {}",
                             p.record.id, p.length, windows.size(), *window_limit_);
                stitching_[slot].emplace(p.length, std::move(windows));
            }
        }
        const std::vector<Batch> batches =
            plan_batches(lengths, max_tokens_, encoder_.info().extra_tokens_per_sequence);
        int64_t residues = 0;
        for (const int64_t length : lengths) {
            residues += length;
        }
        spdlog::info("{} proteins, {} residues in {} batch{} of at most {} tokens", window_.size(),
                     residues, batches.size(), batches.size() == 1 ? "" : "es", max_tokens_);
        for (const Batch& batch : batches) {
            if (stop_requested() != 0) {
                return false;
            }
            try {
                run_batch(batch, pieces, progress);
            } catch (...) {
                rethrow_out_of_memory(batch_description(batch, pieces),
                                      memory_remedy(batch, pieces));
            }
        }
        for (AliasEntry& alias : aliases_) {
            writer_.write_alias(std::move(alias));
        }
        window_.clear();
        aliases_.clear();
        return stop_requested() == 0;
    }

private:
    void run_batch(const Batch& batch, const std::vector<Piece>& pieces, Progress& progress) {
        std::vector<std::string_view> residues_B;
        int64_t batch_residues = 0;
        size_t finished = 0;
        for (const size_t i : batch.items) {
            const Piece& piece = pieces[i];
            residues_B.push_back(std::string_view(window_[piece.slot].record.residues)
                                     .substr(static_cast<size_t>(piece.window.start),
                                             static_cast<size_t>(piece.window.length)));
        }
        const EncodedBatch encoded =
            combine_layers(encoder_.encode(residues_B, request_), selection_);
        for (size_t b = 0; b < batch.items.size(); ++b) {
            const Piece& piece = pieces[batch.items[b]];
            const Protein& p = window_[piece.slot];
            const auto row = static_cast<int64_t>(b);
            std::optional<ProteinEmbedding> done;
            if (!stitching_[piece.slot]) {
                done = whole(p, encoded, row);
            } else {
                done = stitch(piece, encoded, row);
            }
            if (done) {
                batch_residues += p.length;
                ++finished;
                ++summary_.embedded;
                summary_.residues += p.length;
                writer_.write(std::move(*done));
            }
        }
        progress.advance(batch_residues, finished);
        if (seconds_since(last_memory_return_) >= kSecondsBetweenMemoryReturns) {
            return_freed_memory();
            last_memory_return_ = Clock::now();
        }
    }

    // What a batch that ran out of memory was: "embedding protein 'P' of L residues".
    std::string batch_description(const Batch& batch, const std::vector<Piece>& pieces) const {
        const Piece& longest = pieces[batch.items.front()];  // batches come longest first
        const Protein& p = window_[longest.slot];
        std::string protein =
            "protein '" + p.record.id + "' of " + std::to_string(p.length) + " residues";
        if (stitching_[longest.slot]) {
            protein =
                "a window of " + std::to_string(longest.window.length) + " residues of " + protein;
            if (options_.contacts) {
                protein += " (its contacts: " +
                           human_bytes(static_cast<double>(p.length) *
                                       static_cast<double>(p.length) * sizeof(float)) +
                           ")";
            }
        }
        if (batch.items.size() == 1) {
            return "embedding " + protein;
        }
        return "embedding a batch of " + std::to_string(batch.items.size()) + " proteins (" +
               std::to_string(batch.padded_tokens(encoder_.info().extra_tokens_per_sequence)) +
               " tokens; the longest: " + protein + ")";
    }

    // The options that make a batch like this one take less memory.
    std::string memory_remedy(const Batch& batch, const std::vector<Piece>& pieces) const {
        std::vector<std::string> changes;
        if (batch.items.size() > 1) {
            changes.push_back("a smaller --max-tokens (now " + std::to_string(max_tokens_) + ")");
        }
        const Piece& longest = pieces[batch.items.front()];
        const bool chunking = window_limit_ && options_.long_policy == LongPolicy::chunk;
        if (stitching_[longest.slot]) {
            changes.push_back("a smaller --max-length (now " + std::to_string(*window_limit_) +
                              ")");
        } else if (batch.items.size() == 1) {
            const std::string below = std::to_string(window_[longest.slot].length);
            changes.push_back(chunking ? "a --max-length below " + below + " (now " +
                                             std::to_string(*window_limit_) + ")"
                                       : "--max-length below " + below + " with --long chunk");
        }
        if (options_.per_residue) {
            changes.push_back("--no-per-residue");
        }
        if (options_.contacts) {
            changes.push_back("no --contacts");
        }
        std::string out = "use ";
        for (const std::string& change : changes) {
            out += change + ", ";
        }
        return out + "or more memory";
    }

    ProteinEmbedding described(const Protein& p) const {
        ProteinEmbedding e;
        e.key = p.key;
        e.original_id = p.record.id;
        e.description = p.record.description;
        e.index = p.index;
        e.length = p.length;
        e.original_length = static_cast<int64_t>(p.record.residues.size());
        e.sequence_md5 = md5_hex(p.record.residues);
        return e;
    }

    // Stage 4 for a protein read in one piece.
    ProteinEmbedding whole(const Protein& p, const EncodedBatch& encoded, int64_t row) const {
        ProteinEmbedding e = described(p);
        if (options_.per_residue) {
            e.per_residue_NLD = encoded.residues_NBLD.select(1, row).narrow(1, 0, p.length);
        }
        if (options_.per_protein) {
            e.per_protein_ND = pool(encoded, row, p.length, options_.pooling);
        }
        if (options_.contacts) {
            e.contacts_LL = encoded.contacts_BLL[row].narrow(0, 0, p.length).narrow(1, 0, p.length);
        }
        return e;
    }

    // Stage 4 for a window of a long protein: its rows go in place; the last window completes it.
    std::optional<ProteinEmbedding> stitch(const Piece& piece, const EncodedBatch& encoded,
                                           int64_t row) {
        LongProteinStitching& s = *stitching_[piece.slot];
        const int64_t length = piece.window.length;
        const bool complete = s.add(
            piece.window_number, encoded.residues_NBLD.select(1, row).narrow(1, 0, length),
            encoded.bos_NBD.defined() ? encoded.bos_NBD.select(1, row) : torch::Tensor(),
            options_.contacts ? encoded.contacts_BLL[row].narrow(0, 0, length).narrow(1, 0, length)
                              : torch::Tensor());
        if (!complete) {
            return std::nullopt;
        }
        ProteinEmbedding e = described(window_[piece.slot]);
        if (options_.per_residue) {
            e.per_residue_NLD = s.residues_NLD();
        }
        if (options_.per_protein) {
            e.per_protein_ND =
                options_.pooling == Pooling::bos ? s.bos_ND() : s.residues_NLD().mean(1);
        }
        if (options_.contacts) {
            e.contacts_LL = s.contacts_LL();
        }
        stitching_[piece.slot].reset();
        return e;
    }

    Encoder& encoder_;
    const LayerSelection& selection_;
    const EmbedOptions& options_;
    std::optional<int64_t> window_limit_;
    int64_t max_tokens_;
    OutputWriter& writer_;
    RunSummary& summary_;
    EncodeRequest request_;
    std::vector<Protein> window_;
    std::vector<AliasEntry> aliases_;
    std::vector<std::optional<LongProteinStitching>> stitching_;
    Clock::time_point last_memory_return_ = Clock::now();
};

void check_options(const EmbedOptions& options) {
    if (!options.per_residue && !options.per_protein && !options.contacts) {
        throw BadInput("--no-per-residue and --no-per-protein leave nothing to write");
    }
    if (options.max_length && *options.max_length <= 0) {
        throw BadInput("--max-length must be positive");
    }
    if (options.max_tokens && *options.max_tokens <= 0) {
        throw BadInput("--max-tokens must be positive");
    }
    if (options.resume && options.overwrite) {
        throw BadInput("--resume and --overwrite contradict each other");
    }
    if (options.sort_window == 0) {
        throw BadInput("--sort-window must be positive");
    }
    if (options.bio_embeddings_layout && options.contacts) {
        throw BadInput(
            "--contacts: the bio-embeddings layout has no place for "
            "contact maps; use the default layout");
    }
    check_output_name(options.output);
    if (fs::is_directory(options.output) && !options.bio_embeddings_layout) {
        throw BadInput(options.output.string() +
                       " is a directory; the output is an HDF5 file (a directory "
                       "only with --layout bio-embeddings)");
    }
    if (options.bio_embeddings_layout && fs::exists(options.output) &&
        !fs::is_directory(options.output)) {
        throw BadInput(options.output.string() +
                       " is a file; --layout bio-embeddings writes a directory");
    }
    if (fs::exists(options.output) && !options.overwrite && !options.resume) {
        throw BadInput(options.output.string() +
                       " exists: --overwrite replaces it (it stays as it is until "
                       "the new one is complete)");
    }
}

// The command that continues a stopped run: its own, with --resume in place of --overwrite
// (or added). The words are as main() quoted them: single quotes around those that need them.
std::string how_to_continue(const EmbedOptions& options) {
    if (options.command_line.empty()) {
        return options.overwrite ? "To continue, run the same command with --resume in place of "
                                   "--overwrite"
                                 : "To continue, run the same command with --resume";
    }
    std::vector<std::string> words(1);
    bool quoted = false;
    bool escaped = false;  // the character after a backslash outside quotes: '\'' in a word
    for (const char c : options.command_line) {
        if (c == ' ' && !quoted && !escaped) {
            words.emplace_back();
            continue;
        }
        quoted = c == '\'' && !escaped ? !quoted : quoted;
        escaped = c == '\\' && !quoted && !escaped;
        words.back() += c;
    }
    bool resumes = false;
    for (std::string& word : words) {
        if (word == "--overwrite") {
            word = "--resume";
        }
        resumes = resumes || word == "--resume";
    }
    if (!resumes) {
        words.emplace_back("--resume");
    }
    std::string command;
    for (const std::string& word : words) {
        command += (command.empty() ? "" : " ") + word;
    }
    return "To continue, run the same command with --resume: " + command;
}

// A file of an earlier run that this one continues: same model, settings and input.
void check_same_run(const fs::path& file, const RunAttributes& run) {
    const std::vector<std::string> differences = run.differences(read_run_attributes(file));
    if (!differences.empty()) {
        std::string list;
        for (const std::string& d : differences) {
            list += "\n  " + d;
        }
        throw BadInput("--resume: " + file.string() +
                       " was written with other settings or input (this run vs "
                       "that one):" +
                       list + "\nUse --overwrite to start again.");
    }
}

// Proteins an earlier, interrupted run saved, by index.
std::vector<bool> saved_proteins(const std::vector<fs::path>& parts, const RunAttributes& run,
                                 size_t proteins) {
    std::vector<bool> saved(proteins, false);
    for (const fs::path& part : parts) {
        check_same_run(part, run);
        for (const uint64_t index : stored_indices(part)) {
            if (index < saved.size()) {
                saved[index] = true;
            }
        }
    }
    return saved;
}

// The output's directory, which must exist: the lock and the parts go beside the output.
fs::path existing_output_directory(const fs::path& output) {
    const fs::path directory = parent_directory(output);
    if (!fs::is_directory(directory)) {
        throw std::runtime_error(output.string() + ": directory " + directory.string() +
                                 " does not exist");
    }
    return directory;
}

OutputGroups output_groups(const EmbedOptions& options) {
    return OutputGroups{options.per_residue, options.per_protein, options.contacts};
}

// Stage 1, first reading: the input, every record checked before anything else happens.
struct ScannedInput {
    const Alphabet& alphabet;
    InputScan scan;
    Shard shard;
};

ScannedInput scan_whole_input(const InputFile& input, const EmbedOptions& options,
                              RunSummary& summary) {
    // A released model's family is known from its card, so no download precedes the check.
    InvalidRecords invalid(options.skip_invalid);
    const std::optional<ModelCard> card = released_model(options.model);
    const Alphabet& alphabet =
        (card ? family_of_card(card->family) : find_model_family(options.model)).alphabet;
    InputScan scan = scan_input(input, alphabet, invalid);
    summary.skipped = invalid.count();
    if (scan.lengths.empty()) {
        throw InputError(input.name(), 0, "", "no proteins to embed");
    }
    const Shard shard = options.shard.empty() ? Shard{} : parse_shard(options.shard);
    return ScannedInput{alphabet, std::move(scan), shard};
}

// The model, and the layers the run stores.
struct RunModel {
    std::unique_ptr<Encoder> encoder;
    LayerSelection selection;
};

RunModel load_run_model(const EmbedOptions& options) {
    const fs::path checkpoint = resolve_model(
        options.model, ModelLocations::from_environment(options.model_dir), options.offline);
    const ModelFamily& family = find_model_family(checkpoint);
    RunModel model{load_model(family, checkpoint, options), {}};
    const ModelInfo& info = model.encoder->info();
    model.selection = resolve_layers(
        options.layers, info.num_layers,
        // bio_embeddings stores every layer where the model's default is their sum
        options.bio_embeddings_layout && info.default_layers == "sum" ? "all"
                                                                      : info.default_layers);
    if (options.pooling == Pooling::bos && !info.has_bos_token) {
        throw BadInput("--pooling bos: " + info.family + " has no BOS token");
    }
    if (options.contacts && !info.has_contact_head) {
        throw BadInput(
            "--contacts: " + info.checkpoint.string() + " has no contact regression weights" +
            (info.family == "SeqVec" ? " (SeqVec predicts no contacts)"
                                     : " (for a fair-esm NAME.pt, put NAME-contact-regression.pt "
                                       "beside it, from https://dl.fbaipublicfiles.com/fair-esm/"
                                       "regression/)"));
    }
    return model;
}

// What --max-length (as applied) and --long make of a protein's length.
struct LengthRule {
    std::optional<int64_t> limit;
    LongPolicy policy;

    /// Left out of the output: --long skip or error.
    bool left_out(int64_t length) const {
        return limit && length > *limit &&
               (policy == LongPolicy::skip || policy == LongPolicy::error);
    }
    /// Residues stored: --long truncate cuts.
    int64_t stored(int64_t length) const {
        return limit && policy == LongPolicy::truncate ? std::min(length, *limit) : length;
    }
};

// Proteins of the input, all shards together, that the output holds.
int64_t output_proteins(const InputScan& scan, const LengthRule& lengths) {
    return static_cast<int64_t>(
        std::count_if(scan.lengths.begin(), scan.lengths.end(),
                      [&](int64_t length) { return !lengths.left_out(length); }));
}

// --long error without --skip-invalid refuses the run for a protein over the limit: the second
// reading finds the first and rejects it, naming it.
void reject_long_proteins(const InputFile& input, const ScannedInput& scanned,
                          const LengthRule& lengths, const EmbedOptions& options,
                          int64_t output_proteins) {
    if (!lengths.limit || options.long_policy != LongPolicy::error || options.skip_invalid ||
        output_proteins == static_cast<int64_t>(scanned.scan.lengths.size())) {
        return;
    }
    InvalidRecords strict(false);
    ProteinReader reader(input.path(), input.name(), scanned.alphabet, strict,
                         scanned.scan.repeats);
    LengthLimit length_limit(input.name(), lengths.limit, options.long_policy, strict);
    while (std::optional<Protein> p = reader.next()) {
        length_limit.apply(*p);
    }
}

// The root attributes (hdf5_writer.h's table) but checkpoint_sha256, which the checksum of the
// weights gives once computed.
RunAttributes run_attributes(const ModelInfo& info, const LayerSelection& selection,
                             const EmbedOptions& options, const ScannedInput& input,
                             const LengthRule& lengths, int64_t output_proteins) {
    RunAttributes attributes;
    attributes.model = info.name;
    attributes.model_family = info.family;
    attributes.model_format = info.format;
    attributes.checkpoint = fs::weakly_canonical(info.checkpoint).string();
    attributes.layers = selection.layers;
    attributes.layer_reduction = selection.reduction();
    attributes.pooling = to_string(options.pooling);
    attributes.embedding_dim = info.embed_dim;
    attributes.max_length = lengths.limit.value_or(0);
    attributes.long_policy = to_string(options.long_policy);
    attributes.dtype = dtype_name(options.dtype);
    attributes.groups = group_list(options);
    attributes.storage_dtype = name_of(kStorageDtypeNames, options.storage.dtype);
    attributes.compression = options.storage.compression;
    attributes.input_digest = input.scan.digest;
    attributes.input_proteins = output_proteins;
    attributes.input_records = static_cast<int64_t>(input.scan.lengths.size());
    attributes.shard = input.shard.index;
    attributes.shards = input.shard.count;
    attributes.tool_version = kVersion;
    attributes.command_line = options.command_line;
    return attributes;
}

// What an earlier run on this output left, checked to be of the same run: the proteins its
// parts saved, or the whole output (perhaps killed between writing it and removing the parts).
struct Resumption {
    std::vector<bool> saved;  // by protein index
    bool complete = false;
};

Resumption plan_resume(const OutputParts& parts, const EmbedOptions& options,
                       RunAttributes& attributes, const BackgroundChecksum& checksum,
                       size_t proteins) {
    Resumption resumption{std::vector<bool>(proteins, false)};
    if (!options.resume) {
        return resumption;
    }
    attributes.checkpoint_sha256 = checksum.get();
    const std::vector<fs::path> earlier_parts = parts.committed();
    resumption.saved = saved_proteins(earlier_parts, attributes, proteins);
    resumption.complete = earlier_parts.empty() && fs::exists(options.output);
    if (resumption.complete) {
        check_same_run(
            options.bio_embeddings_layout ? bio_embeddings_file(options.output) : options.output,
            attributes);
    }
    return resumption;
}

// What this run writes: this shard's proteins, less those left out for their length.
struct OutputPlan {
    int64_t proteins = 0;
    int64_t residues_to_embed = 0;  // for the progress
    OutputBytes expected;
    OutputBytes unsaved;  // parts still to write; a resumed run's are on the disk
};

OutputPlan plan_output(const ScannedInput& input, const LengthRule& lengths,
                       const std::vector<bool>& saved, const LayerSelection& selection,
                       int64_t width, const EmbedOptions& options) {
    const int64_t layers_out = selection.sum ? 1 : static_cast<int64_t>(selection.layers.size());
    OutputPlan plan;
    int64_t before = 0;
    for (size_t i = 0; i < input.scan.lengths.size(); ++i) {
        const int64_t length = input.scan.lengths[i];
        if (!lengths.left_out(length) &&
            input.shard.contains(before, length, input.scan.residues)) {
            ++plan.proteins;
            const int64_t stored = lengths.stored(length);
            const OutputBytes bytes = estimated_output_bytes(
                stored, layers_out, width, output_groups(options), options.storage);
            plan.expected += bytes;
            if (!saved[i]) {
                plan.residues_to_embed += stored;
                plan.unsaved += bytes;
            }
        }
        before += length;
    }
    return plan;
}

RunSummary nothing_to_resume(OutputParts& parts, const EmbedOptions& options,
                             const OutputPlan& plan, RunSummary summary) {
    spdlog::info("{} is complete: nothing to resume", options.output.string());
    parts.remove();
    summary.proteins = static_cast<size_t>(plan.proteins);
    return summary;
}

// The parts, then the merged file beside them until the parts go, must fit.
void check_free_space(const fs::path& output_directory, const OutputPlan& plan, const Shard& shard,
                      const EmbedOptions& options) {
    const auto available = fs::space(output_directory).available;
    const double needed =
        plan.unsaved.at_least(options.storage) + plan.expected.at_least(options.storage);
    spdlog::info("expected output: {} ({} proteins{}){}",
                 human_bytes(plan.expected.values + plan.expected.structure), plan.proteins,
                 shard.count > 1 ? fmt::format(", shard {} of {}", shard.index, shard.count) : "",
                 options.storage.compression > 0 ? ", before compression" : "");
    if (needed > static_cast<double>(available)) {
        throw std::runtime_error(fmt::format(
            "{}: no space left for the output: {} free, but the run needs about {} (its parts "
            "and the merged file); free some space, write elsewhere, or use --storage-dtype "
            "float16 / --compress",
            output_directory.string(), human_bytes(static_cast<double>(available)),
            human_bytes(needed)));
    }
}

// What the second reading of the input needs from the stages before it.
struct SecondReading {
    const InputFile& file;
    const ScannedInput& scanned;
    const LengthRule& lengths;
    const std::vector<bool>& saved;
    const OutputPlan& plan;
};

// Stage 1, second reading, into `run`: this shard's proteins, but those saved by an earlier
// run and repeats of an earlier sequence (aliases). False when a stop was requested.
bool read_and_embed(const SecondReading& in, const EmbedOptions& options, EmbeddingRun& run,
                    RunSummary& summary) {
    InvalidRecords quiet(true, true);
    ProteinReader reader(in.file.path(), in.file.name(), in.scanned.alphabet, quiet,
                         in.scanned.scan.repeats);
    InvalidRecords too_long(true);  // --long error with --skip-invalid
    LengthLimit length_limit(in.file.name(), in.lengths.limit, options.long_policy, too_long);
    FingerprintMap embedded_as;  // sequence -> index of the protein embedded for it
    embedded_as.reserve(static_cast<size_t>(in.plan.proteins));
    int64_t before = 0;
    Progress progress("embedding", in.plan.residues_to_embed, "residues");
    bool stopped = false;
    while (std::optional<Protein> p = reader.next()) {
        in.scanned.scan.check_unchanged(*p, in.file.name());  // before anything of it is embedded
        const int64_t raw_length = p->length;
        const bool mine = in.scanned.shard.contains(before, raw_length, in.scanned.scan.residues);
        before += raw_length;
        if (!mine || !length_limit.apply(*p)) {
            continue;
        }
        const std::string_view embedded =
            std::string_view(p->record.residues).substr(0, static_cast<size_t>(p->length));
        const auto [source, first] = embedded_as.emplace(fingerprint(embedded), p->index);
        if (in.saved[p->index]) {
            ++summary.resumed;
            continue;
        }
        if (!first) {
            ++summary.duplicates;
            run.add_alias(AliasEntry{p->key, p->record.id, p->record.description, p->index,
                                     p->length, source});
            continue;
        }
        run.add(std::move(*p));
        if (run.window_full() && !run.run_window(progress)) {
            stopped = true;
            break;
        }
    }
    if (!stopped) {
        in.scanned.scan.check_count(reader.accepted(), in.file.name());
    }
    stopped = stopped || !run.run_window(progress);
    progress.finish();
    summary.truncated = length_limit.truncated();
    summary.skipped += too_long.count() + length_limit.skipped();
    return !stopped;
}

// Stages 1 (second reading) to 5 into the parts; throws Interrupted when a stop was requested,
// saying how to continue. The parts go if none was committed: nothing to resume.
void embed_into_parts(const SecondReading& in, const EmbedOptions& options, const RunModel& model,
                      OutputParts& parts, RunAttributes& attributes,
                      const BackgroundChecksum& checksum, RunSummary& summary) {
    bool stopped = false;
    try {
        OutputWriter writer(parts, output_groups(options), options.storage, attributes,
                            checksum.future(), options.flush);
        EmbeddingRun run(*model.encoder, model.selection, options, in.lengths.limit, writer,
                         summary);
        stopped = !read_and_embed(in, options, run, summary);
        writer.finish();
        attributes.checkpoint_sha256 = checksum.get();  // for the merged file
    } catch (...) {
        if (parts.committed().empty()) {
            parts.remove();
        }
        throw;
    }
    if (stopped) {
        const int signal_number = stop_requested();
        throw Interrupted(signal_number,
                          fmt::format("stopped by signal {} after embedding {} proteins; the work "
                                      "so far is saved in {}. {}",
                                      signal_number, summary.embedded, parts.directory().string(),
                                      how_to_continue(options)));
    }
}

// Stage 5, last step: the parts, merged in input order, each checked as --resume checks.
// Returns the proteins of the output.
size_t merge_parts(const OutputParts& parts, const RunAttributes& attributes,
                   const EmbedOptions& options) {
    MergeOptions merge;
    merge.require_complete = false;
    merge.expected = &attributes;
    try {
        if (options.bio_embeddings_layout) {
            AtomicDirectory output(options.output);
            const size_t proteins = export_bio_embeddings(
                parts.committed(), output.temporary_path(), attributes, merge);
            output.commit();
            return proteins;
        }
        AtomicOutput output(options.output);
        const size_t proteins =
            merge_files(parts.committed(), output.temporary_path(), attributes, merge);
        output.commit();
        return proteins;
    } catch (const Interrupted& e) {
        throw Interrupted(
            e.signal_number(),
            fmt::format("stopped by signal {} during the final merge; the work is "
                        "saved in {}. {}",
                        e.signal_number(), parts.directory().string(), how_to_continue(options)));
    }
}

}  // namespace

RunSummary embed_fasta(const EmbedOptions& options) {
    const auto start = Clock::now();
    check_options(options);
    const fs::path output_directory = existing_output_directory(options.output);
    const OutputLock lock(options.output);
    RunSummary summary;

    const InputFile input(options.input, options.output);
    const ScannedInput scanned = scan_whole_input(input, options, summary);
    const RunModel model = load_run_model(options);
    const ModelInfo& info = model.encoder->info();
    summary.max_length = applicable_max_length(info, options.max_length);
    const LengthRule lengths{summary.max_length, options.long_policy};
    const int64_t proteins = output_proteins(scanned.scan, lengths);
    reject_long_proteins(input, scanned, lengths, options, proteins);

    BackgroundChecksum checksum(info.weight_files);
    RunAttributes attributes =
        run_attributes(info, model.selection, options, scanned, lengths, proteins);
    OutputParts parts(lock, options.output, options.resume, options.overwrite);
    const Resumption resumption =
        plan_resume(parts, options, attributes, checksum, scanned.scan.lengths.size());
    const OutputPlan plan =
        plan_output(scanned, lengths, resumption.saved, model.selection, info.embed_dim, options);
    if (resumption.complete) {
        return nothing_to_resume(parts, options, plan, summary);
    }
    check_free_space(output_directory, plan, scanned.shard, options);

    const auto embed_start = Clock::now();
    const GracefulStop graceful;  // through the merge
    embed_into_parts(SecondReading{input, scanned, lengths, resumption.saved, plan}, options, model,
                     parts, attributes, checksum, summary);
    summary.embedding_seconds = seconds_since(embed_start);
    summary.proteins = merge_parts(parts, attributes, options);
    if (summary.proteins != static_cast<size_t>(plan.proteins)) {
        throw std::logic_error(
            fmt::format("merged {} proteins, expected {}", summary.proteins, plan.proteins));
    }
    parts.remove();
    summary.seconds = seconds_since(start);
    return summary;
}

}  // namespace embed
