// The `embed` command: parses flags into EmbedOptions and runs the library. Only this file
// exits; errors are logged with spdlog and become a non-zero status.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "base/errors.h"
#include "output/merge.h"
#include "hub/model_store.h"
#include "job/pipeline.h"
#include "encode/runtime.h"
#include "base/file.h"
#include "base/version.h"

namespace {

// Exit statuses, documented in the README.
constexpr int kExitFailure = 1;       // the model or the file system failed
constexpr int kExitBadInput = 2;      // bad flags or bad input; nothing was written
constexpr int kExitSignalBase = 128;  // + the signal that stopped a run; --resume continues it

// Runs `command`, logging an exception as an error and turning it into the exit status.
template <typename Command>
int guarded(Command&& command) {
    try {
        return command();
    } catch (const embed::Interrupted& e) {
        spdlog::error("{}", e.what());
        return kExitSignalBase + e.signal_number();
    } catch (const std::invalid_argument& e) {
        spdlog::error("{}", e.what());
        return kExitBadInput;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return kExitFailure;
    }
}

// A finite number above zero, or zero too. CLI11's PositiveNumber and NonNegativeNumber let
// "nan" through and print their bound as a 309-digit number.
CLI::Validator finite_number(bool zero_allowed) {
    const std::string requirement = zero_allowed ? "a number >= 0" : "a number > 0";
    return CLI::Validator(
        [=](const std::string& text) -> std::string {
            char* end = nullptr;
            const double value = std::strtod(text.c_str(), &end);
            const bool number = end != text.c_str() && *end == '\0' && std::isfinite(value);
            if (!number || value < 0 || (!zero_allowed && value == 0)) {
                return "'" + text + "' is not " + requirement;
            }
            return "";
        },
        requirement);
}
const CLI::Validator kPositive = finite_number(false);
const CLI::Validator kNonNegative = finite_number(true);

std::string shell_quote(const std::string& word) {
    if (!word.empty() &&
        word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "-_./=:,+@%") == std::string::npos) {
        return word;
    }
    std::string quoted = "'";
    for (const char c : word) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

std::string command_line(int argc, char** argv) {
    std::string out;
    for (int i = 0; i < argc; ++i) {
        out += (i > 0 ? " " : "") + shell_quote(argv[i]);
    }
    return out;
}

std::string parameters(int64_t count) {
    return count >= 1'000'000'000 ? fmt::format("{:.1f}B", static_cast<double>(count) / 1e9)
                                  : fmt::format("{:.1f}M", static_cast<double>(count) / 1e6);
}

// `embed models`: the released models and where each is on this machine. Data to stdout.
int list_models(const embed::ModelLocations& locations) {
    std::printf("%-22s %-7s %10s %6s %6s  %s\n", "name", "family", "parameters", "layers", "width",
                "on this machine");
    for (const embed::ModelCard& card : embed::model_cards()) {
        const std::optional<std::filesystem::path> local = embed::find_local_model(card, locations);
        std::printf("%-22s %-7s %10s %6lld %6lld  %s\n", card.name.c_str(), card.family.c_str(),
                    parameters(card.parameters).c_str(), static_cast<long long>(card.layers),
                    static_cast<long long>(card.embedding_dim),
                    local ? local->c_str() : "- (embed download NAME)");
    }
    return 0;
}

// `embed download NAME...`: fetch models ahead of time, e.g. on a login node for compute nodes
// without internet. Every name is tried; the status is the worst failure's.
int download_models(const std::vector<std::string>& names,
                    const std::optional<std::filesystem::path>& model_dir,
                    const embed::ModelLocations& locations) {
    int status = 0;
    for (const std::string& name : names) {
        status = std::max(status, guarded([&] {
                              embed::fetch_model(name, model_dir, locations);
                              return 0;
                          }));
    }
    return status;
}

// `embed merge SHARD... -o OUTPUT`: the shards of an array job in one file, checked: same
// model, settings and input, every shard once, every protein once.
int merge_shards(const std::vector<std::string>& shards, const std::filesystem::path& output,
                 bool overwrite, bool bio_embeddings_layout) {
    const size_t proteins =
        embed::merge_shards(std::vector<std::filesystem::path>(shards.begin(), shards.end()),
                            output, overwrite, bio_embeddings_layout);
    spdlog::info("merged {} shards, {} proteins: {}", shards.size(), proteins, output.string());
    return 0;
}

void setup_logging(bool quiet, bool verbose) {
    auto logger = spdlog::stderr_color_mt("embed");
    logger->set_pattern("[%Y-%m-%d %H:%M:%S] [%^%l%$] %v");
    logger->set_level(quiet     ? spdlog::level::warn
                      : verbose ? spdlog::level::debug
                                : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
    embed::EmbedOptions options;
    std::string long_policy = "chunk";
    std::string storage_dtype = "float32";
    std::string layout = "embed";
    int compression = 0;
    std::vector<std::string> merge_inputs;
    std::string pooling = "mean";
    int64_t max_length = 0;
    int64_t max_tokens = 0;
    bool no_per_residue = false;
    bool no_per_protein = false;
    bool quiet = false;
    bool verbose = false;
    std::string model_dir;
    std::vector<std::string> download_names;

    CLI::App app{
        "Protein language-model embeddings: FASTA in, HDF5 out.\n\n"
        "  embed INPUT -o OUTPUT.h5 [-m MODEL]   embed the proteins of INPUT\n"
        "  embed models                          list the released models\n"
        "  embed download NAME...                fetch models ahead of time\n"
        "  embed merge SHARD... -o OUTPUT.h5     put the shards of an array job together",
        "embed"};
    app.set_version_flag("--version", std::string("embed ") + embed::kVersion);
    app.add_option("--model-dir", model_dir,
                   "Directory searched first for models given by name (also $EMBED_MODEL_DIR); "
                   "`embed download` writes there when given");
    app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
    app.add_flag("-v,--verbose", verbose, "Debug messages");

    app.add_option("input", options.input, "FASTA file (plain or gzip), or - for standard input");
    app.add_option("-o,--output", options.output, "HDF5 file to write");
    app.add_flag("--overwrite", options.overwrite,
                 "Replace an existing output (kept until the new one is complete)");
    app.add_flag("--resume", options.resume,
                 "Continue an interrupted run of the same command, keeping the proteins it saved");
    app.add_option("-m,--model", options.model,
                   "A released model's name (`embed models`), found locally or downloaded; or "
                   "a checkpoint: fair-esm .pt, Hugging Face directory, SeqVec directory")
        ->capture_default_str();
    app.add_flag("--offline", options.offline,
                 "Never download; a model that is not here is an error saying what to fetch");
    app.add_option("--device", options.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--dtype", options.dtype,
                   "What the model computes in: float32, bfloat16 (CPU and GPU) or float16 (GPU); "
                   "output is float32 either way (see --storage-dtype)")
        ->capture_default_str()
        ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
    app.add_option("-t,--threads", options.threads,
                   "CPU threads (default: SLURM_CPUS_PER_TASK, else all CPUs available)")
        ->check(kNonNegative);
    app.add_option("--max-tokens", max_tokens,
                   "Tokens per batch, padding and special tokens included (default: the "
                   "model's; 4096 for ESM, 32768 for SeqVec)")
        ->check(kPositive);
    app.add_option("--max-length", max_length,
                   "Longest protein embedded whole, in residues (default: the model's; 1022 "
                   "for ESM, none for SeqVec)")
        ->check(kPositive);
    app.add_option("--long", long_policy,
                   "Proteins over --max-length: chunk (overlapping windows, stitched), truncate, "
                   "skip or error")
        ->capture_default_str()
        ->check(CLI::IsMember({"chunk", "truncate", "skip", "error"}));
    app.add_option("--sort-window", options.sort_window,
                   "Proteins read ahead and sorted by length for batching; bounds memory")
        ->capture_default_str()
        ->check(kPositive);
    app.add_option("--layers", options.layers,
                   "Layers to write: all, sum, or a comma list such as 0,-1 (0 = embeddings, "
                   "-1 = last; default: the last for ESM, sum for SeqVec)");
    app.add_option("--pooling", pooling, "Per-protein vector: mean over residues, or bos token")
        ->capture_default_str()
        ->check(CLI::IsMember({"mean", "bos"}));
    app.add_flag("--no-per-residue", no_per_residue, "Do not write /per_residue");
    app.add_flag("--no-per-protein", no_per_protein, "Do not write /per_protein");
    app.add_flag("--contacts", options.contacts,
                 "Also write /contacts: contact probabilities (ESM, with its contact "
                 "regression weights)");
    app.add_option("--storage-dtype", storage_dtype, "float32 or float16 (half the size)")
        ->capture_default_str()
        ->check(CLI::IsMember({"float32", "float16"}));
    app.add_option("--layout", layout,
                   "embed: one HDF5 file; bio-embeddings: a directory with bio_embeddings' "
                   "embeddings_file.h5, reduced_embeddings_file.h5 and mapping_file.csv")
        ->capture_default_str()
        ->check(CLI::IsMember({"embed", "bio-embeddings"}));
    app.add_option("--compress", compression,
                   "gzip level 1-9 (with the shuffle filter) for the datasets; 0: none")
        ->capture_default_str()
        ->check(CLI::Range(0, 9));
    app.add_option("--flush-every", options.flush.proteins,
                   "Save finished proteins to disk at least every N proteins")
        ->capture_default_str()
        ->check(kPositive);
    app.add_option("--flush-seconds", options.flush.seconds, "... and at least every T seconds")
        ->capture_default_str()
        ->check(kPositive);
    app.add_option("--shard", options.shard,
                   "Embed shard I of N (I/N, from 1), or auto in a Slurm array job; "
                   "`embed merge` puts the shards together");
    app.add_flag("--skip-invalid", options.skip_invalid,
                 "Skip invalid records with a warning instead of stopping");

    CLI::App* models = app.add_subcommand("models", "List the released models and where they are");
    CLI::App* download = app.add_subcommand("download", "Fetch models ahead of time");
    CLI::App* merge = app.add_subcommand("merge", "Put the shards of an array job together");
    merge->add_option("shards", merge_inputs, "Shard files (embed --shard I/N)")->required();
    download->add_option("names", download_names, "Model names (`embed models`)")->required();
    // --model-dir, -q and -v also work after the subcommand's name.
    models->fallthrough();
    download->fallthrough();
    merge->fallthrough();
    app.require_subcommand(0, 1);

    try {
        app.parse(argc, argv);
        if (app.get_subcommands().empty() && (options.input.empty() || options.output.empty())) {
            throw CLI::RequiredError(options.input.empty() ? "INPUT" : "--output");
        }
        if (merge->parsed() && options.output.empty()) {
            throw CLI::RequiredError("--output");
        }
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : kExitBadInput;
    }

    if (!options.output.empty() && !options.output.has_filename()) {
        options.output = options.output.parent_path();  // -o dir/ for a bio-embeddings directory
    }
    embed::keep_freed_memory_for_reuse();
    embed::remove_partial_outputs_on_interrupt();
    setup_logging(quiet, verbose);
    if (!model_dir.empty()) {
        options.model_dir = model_dir;
    }
    const embed::ModelLocations locations =
        embed::ModelLocations::from_environment(options.model_dir);
    if (models->parsed()) {
        return guarded([&] { return list_models(locations); });
    }
    if (download->parsed()) {
        return download_models(download_names, options.model_dir, locations);
    }
    if (merge->parsed()) {
        return guarded([&] {
            return merge_shards(merge_inputs, options.output, options.overwrite,
                                layout == "bio-embeddings");
        });
    }

    options.long_policy = embed::parse_long_policy(long_policy);
    options.pooling = embed::parse_pooling(pooling);
    options.storage.dtype = embed::parse_storage_dtype(storage_dtype);
    options.storage.compression = compression;
    options.bio_embeddings_layout = layout == "bio-embeddings";
    options.per_residue = !no_per_residue;
    options.per_protein = !no_per_protein;
    options.command_line = command_line(argc, argv);
    if (max_length > 0) {
        options.max_length = max_length;
    }
    if (max_tokens > 0) {
        options.max_tokens = max_tokens;
    }

    spdlog::info("embed {}: {}", embed::kVersion, options.command_line);
    spdlog::info("{}, CLI11 {}", embed::library_versions(), CLI11_VERSION);
    return guarded([&] {
        const embed::RunSummary summary = embed::embed_fasta(options);
        spdlog::info(
            "done: {} proteins, {} residues embedded in {:.1f} s ({:.1f} s embedding, {:.0f} "
            "residues/s); wrote {} with {} proteins",
            summary.embedded, summary.residues, summary.seconds, summary.embedding_seconds,
            static_cast<double>(summary.residues) / std::max(summary.embedding_seconds, 1e-9),
            options.output.string(), summary.proteins);
        if (summary.duplicates > 0) {
            spdlog::info(
                "{} proteins repeat an earlier sequence: embedded once, written for "
                "every id",
                summary.duplicates);
        }
        if (summary.resumed > 0) {
            spdlog::info("{} proteins were saved by the interrupted run", summary.resumed);
        }
        if (summary.chunked > 0) {
            spdlog::info("{} proteins longer than --max-length {} were embedded in windows",
                         summary.chunked, summary.max_length.value_or(0));
        }
        if (summary.skipped > 0) {
            spdlog::warn("{} invalid records skipped (see the warnings above)", summary.skipped);
        }
        if (summary.truncated > 0) {
            spdlog::warn("{} proteins truncated to --max-length {}", summary.truncated,
                         summary.max_length.value_or(0));
        }
        return 0;
    });
}
