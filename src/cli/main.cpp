// The `embed` command: parses flags into EmbedOptions and runs the library. Only this file
// exits; errors are logged with spdlog and become a non-zero status.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "embed/errors.h"
#include "embed/model_store.h"
#include "embed/pipeline.h"
#include "embed/runtime.h"
#include "embed/util/file.h"
#include "embed/version.h"

namespace {

// Exit statuses, documented in the README.
constexpr int kExitFailure = 1;   // the model or the file system failed
constexpr int kExitBadInput = 2;  // bad flags or bad input; nothing was written

// Runs `command`, logging an exception as an error and turning it into the exit status.
template <typename Command>
int guarded(Command&& command) {
    try {
        return command();
    } catch (const std::invalid_argument& e) {
        spdlog::error("{}", e.what());
        return kExitBadInput;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return kExitFailure;
    }
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
    std::string long_policy = "truncate";
    std::string pooling = "mean";
    int64_t max_length = 0;
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
        "  embed download NAME...                fetch models ahead of time",
        "embed"};
    app.set_version_flag("--version", std::string("embed ") + embed::kVersion);
    app.add_option("--model-dir", model_dir,
                   "Directory searched first for models given by name (also $EMBED_MODEL_DIR); "
                   "`embed download` writes there when given");
    app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
    app.add_flag("-v,--verbose", verbose, "Debug messages");

    app.add_option("input", options.input, "FASTA file (plain or gzip), or - for standard input");
    app.add_option("-o,--output", options.output, "HDF5 file to write");
    app.add_option("-m,--model", options.model,
                   "A released model's name (`embed models`), found locally or downloaded; or "
                   "a checkpoint: fair-esm .pt, Hugging Face directory, SeqVec directory")
        ->capture_default_str();
    app.add_flag("--offline", options.offline,
                 "Never download; a model that is not here is an error saying what to fetch");
    app.add_option("--device", options.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("-t,--threads", options.threads, "CPU threads (default: all CPUs available)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-tokens", options.max_tokens,
                   "Tokens per batch, padding and special tokens included")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--max-length", max_length,
                   "Longest protein embedded whole, in residues (default: the model's; 1022 "
                   "for ESM, none for SeqVec)")
        ->check(CLI::PositiveNumber);
    app.add_option("--long", long_policy, "Proteins over --max-length: truncate or error")
        ->capture_default_str()
        ->check(CLI::IsMember({"truncate", "error"}));
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
    app.add_flag("--skip-invalid", options.skip_invalid,
                 "Skip invalid records with a warning instead of stopping");

    CLI::App* models = app.add_subcommand("models", "List the released models and where they are");
    CLI::App* download = app.add_subcommand("download", "Fetch models ahead of time");
    download->add_option("names", download_names, "Model names (`embed models`)")->required();
    // --model-dir, -q and -v also work after the subcommand's name.
    models->fallthrough();
    download->fallthrough();
    app.require_subcommand(0, 1);

    try {
        app.parse(argc, argv);
        if (app.get_subcommands().empty() && (options.input.empty() || options.output.empty())) {
            throw CLI::RequiredError(options.input.empty() ? "INPUT" : "--output");
        }
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : kExitBadInput;
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

    options.long_policy = embed::parse_long_policy(long_policy);
    options.pooling = embed::parse_pooling(pooling);
    options.per_residue = !no_per_residue;
    options.per_protein = !no_per_protein;
    options.command_line = command_line(argc, argv);
    if (max_length > 0) {
        options.max_length = max_length;
    }

    spdlog::info("embed {}: {}", embed::kVersion, options.command_line);
    spdlog::info("{}, CLI11 {}", embed::library_versions(), CLI11_VERSION);
    return guarded([&] {
        const embed::RunSummary summary = embed::embed_fasta(options);
        spdlog::info(
            "done: {} proteins, {} residues in {:.1f} s ({:.1f} s embedding, {:.0f} residues/s); "
            "wrote {}",
            summary.proteins, summary.residues, summary.seconds, summary.embedding_seconds,
            static_cast<double>(summary.residues) / std::max(summary.embedding_seconds, 1e-9),
            options.output.string());
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
