// The `embed` command: parses flags into EmbedOptions and runs the library. Only this file
// exits; errors are logged with spdlog and become a non-zero status.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "base/errors.h"
#include "base/file.h"
#include "base/names.h"
#include "base/version.h"
#include "encode/runtime.h"
#include "hub/model_store.h"
#include "job/pipeline.h"
#include "output/merge.h"

namespace {

// Exit statuses, documented in the README and in --help.
constexpr int kExitFailure = 1;       // the model or the file system failed
constexpr int kExitBadInput = 2;      // bad flags or bad input; nothing was written
constexpr int kExitSignalBase = 128;  // + the signal that stopped a run; --resume continues it

// Runs `command`, logging an exception as an error and turning it into the exit status. The
// project's error kinds decide it: a dependency's std::invalid_argument is no bad input.
template <typename Command>
int guarded(Command&& command) {
    try {
        return command();
    } catch (const embed::Interrupted& e) {
        spdlog::error("{}", e.what());
        return kExitSignalBase + e.signal_number();
    } catch (const embed::BadInput& e) {
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

// A flag whose values are the names of `table`, the library's one list of them: the named
// value lands in `target`, whose value is the default shown in --help.
template <typename Value, size_t N>
CLI::Option* add_choice(CLI::App& app, const std::string& flags, Value& target,
                        const embed::NameTable<Value, N>& table, const std::string& help) {
    std::string choices;
    for (const embed::Named<Value>& entry : table) {
        choices += (choices.empty() ? "{" : ",") + std::string(entry.name);
    }
    const CLI::Validator named(
        [&table](const std::string& name) {
            return embed::find_named(table, name) ? std::string() : embed::not_one_of(table, name);
        },
        choices + "}");
    return app
        .add_option_function<std::string>(
            flags,
            [&target, &table](const std::string& name) {
                target = *embed::find_named(table, name);  // the check let only names through
            },
            help)
        ->check(named)
        ->default_str(embed::name_of(table, target));
}

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

// What the command line says, before it becomes EmbedOptions.
struct Flags {
    embed::EmbedOptions options;
    embed::Layout layout = embed::Layout::embed;
    // 0: the model's default.
    int64_t max_length = 0;
    int64_t max_tokens = 0;
    bool no_per_residue = false;
    bool no_per_protein = false;
    bool quiet = false;
    bool verbose = false;
    std::string model_dir;
    std::vector<std::string> merge_inputs;
    std::vector<std::string> download_names;
};

void add_input_flags(CLI::App& app, Flags& f) {
    embed::EmbedOptions& o = f.options;
    app.add_option("input", o.input, "FASTA file (plain or gzip), or - for standard input");
    app.add_flag("--skip-invalid", o.skip_invalid,
                 "Skip invalid records with a warning instead of stopping")
        ->group("Input");
    app.add_option("--max-length", f.max_length,
                   "Longest protein embedded whole, in residues (default: the model's; 1022 "
                   "for ESM, none for SeqVec)")
        ->check(kPositive)
        ->group("Input");
    add_choice(app, "--long", o.long_policy, embed::kLongPolicyNames,
               "Proteins over --max-length: chunk (overlapping windows, stitched), truncate, "
               "skip or error")
        ->group("Input");
}

void add_model_flags(CLI::App& app, Flags& f) {
    embed::EmbedOptions& o = f.options;
    const std::string group = "Model and device";
    app.add_option("-m,--model", o.model,
                   "A released model's name (`embed models`), found locally or downloaded; or "
                   "a checkpoint: fair-esm .pt, Hugging Face directory, SeqVec directory")
        ->capture_default_str()
        ->group(group);
    app.add_option("--model-dir", f.model_dir,
                   "Directory searched first for models given by name (also $EMBED_MODEL_DIR); "
                   "`embed download` writes there when given")
        ->group(group);
    app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")
        ->capture_default_str()
        ->group(group);
    add_choice(app, "--dtype", o.dtype, embed::kComputeDtypeNames,
               "What the model computes in: float32, bfloat16 (CPU and GPU) or float16 (GPU); "
               "output is float32 either way (see --storage-dtype)")
        ->group(group);
    app.add_option("-t,--threads", o.threads,
                   "CPU threads (default: SLURM_CPUS_PER_TASK, else all CPUs available)")
        ->check(kNonNegative)
        ->group(group);
}

void add_output_flags(CLI::App& app, Flags& f) {
    embed::EmbedOptions& o = f.options;
    const std::string group = "Output";
    app.add_option("-o,--output", o.output, "HDF5 file to write")->group(group);
    app.add_flag("--overwrite", o.overwrite,
                 "Replace an existing output (kept until the new one is complete)")
        ->group(group);
    app.add_flag("--resume", o.resume,
                 "Continue an interrupted run of the same command, keeping the proteins it saved")
        ->group(group);
    app.add_option("--layers", o.layers,
                   "Layers to write: all, sum, or a comma list such as 0,-1 (0 = embeddings, "
                   "-1 = last; default: the last for ESM, sum for SeqVec)")
        ->group(group);
    add_choice(app, "--pooling", o.pooling, embed::kPoolingNames,
               "Per-protein vector: mean over residues, or bos token")
        ->group(group);
    app.add_flag("--no-per-residue", f.no_per_residue, "Do not write /per_residue")->group(group);
    app.add_flag("--no-per-protein", f.no_per_protein, "Do not write /per_protein")->group(group);
    app.add_flag("--contacts", o.contacts,
                 "Also write /contacts: contact probabilities (ESM, with its contact "
                 "regression weights)")
        ->group(group);
    add_choice(app, "--storage-dtype", o.storage.dtype, embed::kStorageDtypeNames,
               "float32 or float16 (half the size)")
        ->group(group);
    add_choice(app, "--layout", f.layout, embed::kLayoutNames,
               "embed: one HDF5 file; bio-embeddings: a directory with bio_embeddings' "
               "embeddings_file.h5, reduced_embeddings_file.h5 and mapping_file.csv")
        ->group(group);
    app.add_option("--compress", o.storage.compression,
                   "gzip level 1-9 (with the shuffle filter) for the datasets; 0: none")
        ->capture_default_str()
        ->check(CLI::Range(0, 9))
        ->group(group);
}

void add_batching_flags(CLI::App& app, Flags& f) {
    embed::EmbedOptions& o = f.options;
    const std::string group = "Batching and memory";
    app.add_option("--max-tokens", f.max_tokens,
                   "Tokens per batch, padding and special tokens included (default: the "
                   "model's; 4096 for ESM, 32768 for SeqVec)")
        ->check(kPositive)
        ->group(group);
    app.add_option("--sort-window", o.sort_window,
                   "Proteins read ahead and sorted by length for batching; bounds memory")
        ->capture_default_str()
        ->check(kPositive)
        ->group(group);
    app.add_option("--flush-every", o.flush.proteins,
                   "Save finished proteins to disk at least every N proteins")
        ->capture_default_str()
        ->check(kPositive)
        ->group(group);
    app.add_option("--flush-seconds", o.flush.seconds, "... and at least every T seconds")
        ->capture_default_str()
        ->check(kPositive)
        ->group(group);
}

void add_cluster_and_logging_flags(CLI::App& app, Flags& f) {
    app.add_option("--shard", f.options.shard,
                   "Embed shard I of N (I/N, from 1), or auto in a Slurm array job; "
                   "`embed merge` puts the shards together")
        ->group("Clusters");
    app.add_flag("--offline", f.options.offline,
                 "Never download (compute nodes without internet); a model that is not here is "
                 "an error saying what to fetch")
        ->group("Clusters");
    app.add_flag("-q,--quiet", f.quiet, "Only warnings and errors")->group("Logging");
    app.add_flag("-v,--verbose", f.verbose, "Debug messages")->group("Logging");
}

struct Subcommands {
    CLI::App* models;
    CLI::App* download;
    CLI::App* merge;
};

Subcommands add_subcommands(CLI::App& app, Flags& f) {
    const Subcommands s{
        app.add_subcommand("models", "List the released models and where they are"),
        app.add_subcommand("download", "Fetch models ahead of time"),
        app.add_subcommand("merge", "Put the shards of an array job together"),
    };
    s.merge->add_option("shards", f.merge_inputs, "Shard files (embed --shard I/N)")->required();
    s.download->add_option("names", f.download_names, "Model names (`embed models`)")->required();
    // --model-dir, -o, --layout, -q and -v also work after the subcommand's name.
    for (CLI::App* subcommand : {s.models, s.download, s.merge}) {
        subcommand->fallthrough();
    }
    app.require_subcommand(0, 1);
    return s;
}

void describe_program(CLI::App& app) {
    app.description(
        "Protein language-model embeddings: FASTA in, HDF5 out.\n\n"
        "  embed INPUT -o OUTPUT.h5 [-m MODEL]   embed the proteins of INPUT\n"
        "  embed models                          list the released models\n"
        "  embed download NAME...                fetch models ahead of time\n"
        "  embed merge SHARD... -o OUTPUT.h5     put the shards of an array job together");
    app.footer(
        "Exit status: 0 done; 1 the model or the file system failed; 2 bad flags or input "
        "(nothing written);\n128+N stopped by signal N, its work saved: the same command with "
        "--resume continues it.");
    app.set_version_flag("--version", std::string("embed ") + embed::kVersion);
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
int merge_shards(const Flags& f) {
    const size_t proteins = embed::merge_shards(
        std::vector<std::filesystem::path>(f.merge_inputs.begin(), f.merge_inputs.end()),
        f.options.output, f.options.overwrite, f.layout == embed::Layout::bio_embeddings);
    spdlog::info("merged {} shards, {} proteins: {}", f.merge_inputs.size(), proteins,
                 f.options.output.string());
    return 0;
}

void log_summary(const embed::RunSummary& summary, const std::filesystem::path& output) {
    spdlog::info(
        "done: {} proteins, {} residues embedded in {:.1f} s ({:.1f} s embedding, {:.0f} "
        "residues/s); wrote {} with {} proteins",
        summary.embedded, summary.residues, summary.seconds, summary.embedding_seconds,
        static_cast<double>(summary.residues) / std::max(summary.embedding_seconds, 1e-9),
        output.string(), summary.proteins);
    if (summary.duplicates > 0) {
        spdlog::info("{} proteins repeat an earlier sequence: embedded once, written for every id",
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
}

// `embed INPUT -o OUTPUT`: the flags that are not options themselves folded in, then the run.
int embed_proteins(Flags& f, const std::string& command) {
    embed::EmbedOptions& options = f.options;
    options.bio_embeddings_layout = f.layout == embed::Layout::bio_embeddings;
    options.per_residue = !f.no_per_residue;
    options.per_protein = !f.no_per_protein;
    options.command_line = command;
    if (f.max_length > 0) {
        options.max_length = f.max_length;
    }
    if (f.max_tokens > 0) {
        options.max_tokens = f.max_tokens;
    }
    spdlog::info("embed {}: {}", embed::kVersion, options.command_line);
    spdlog::info("{}, CLI11 {}", embed::library_versions(), CLI11_VERSION);
    return guarded([&] {
        log_summary(embed::embed_fasta(options), options.output);
        return 0;
    });
}

void setup_logging(bool quiet, bool verbose) {
    auto logger = spdlog::stderr_color_mt("embed");
    logger->set_pattern("[%Y-%m-%d %H:%M:%S] [%^%l%$] %v");
    logger->set_level(quiet     ? spdlog::level::warn
                      : verbose ? spdlog::level::debug
                                : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

// Parses the command line into `f`; the exit status for --help, --version or a usage error.
std::optional<int> parse(CLI::App& app, const Subcommands& s, Flags& f, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        const embed::EmbedOptions& o = f.options;
        if (app.get_subcommands().empty() && (o.input.empty() || o.output.empty())) {
            throw CLI::RequiredError(o.input.empty() ? "INPUT" : "--output");
        }
        if (s.merge->parsed() && o.output.empty()) {
            throw CLI::RequiredError("--output");
        }
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : kExitBadInput;
    }
    // -o dir/ for a bio-embeddings directory.
    if (!f.options.output.empty() && !f.options.output.has_filename()) {
        f.options.output = f.options.output.parent_path();
    }
    if (!f.model_dir.empty()) {
        f.options.model_dir = f.model_dir;
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    Flags f;
    CLI::App app{"", "embed"};
    describe_program(app);
    add_input_flags(app, f);
    add_model_flags(app, f);
    add_output_flags(app, f);
    add_batching_flags(app, f);
    add_cluster_and_logging_flags(app, f);
    const Subcommands s = add_subcommands(app, f);
    if (const std::optional<int> status = parse(app, s, f, argc, argv)) {
        return *status;
    }

    embed::keep_freed_memory_for_reuse();
    embed::remove_partial_outputs_on_interrupt();
    setup_logging(f.quiet, f.verbose);
    const auto locations = embed::ModelLocations::from_environment(f.options.model_dir);
    if (s.models->parsed()) {
        return guarded([&] { return list_models(locations); });
    }
    if (s.download->parsed()) {
        return download_models(f.download_names, f.options.model_dir, locations);
    }
    if (s.merge->parsed()) {
        return guarded([&] { return merge_shards(f); });
    }
    return embed_proteins(f, command_line(argc, argv));
}
