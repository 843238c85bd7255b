// The whole job: FASTA -> batches -> encoder -> pooling -> HDF5.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "encode/pooling.h"
#include "input/validation.h"
#include "output/hdf5_writer.h"
#include "output/output_writer.h"

namespace embed {

/// The model used when none is named: the ESM-2 most users want.
inline constexpr const char* kDefaultModel = "esm2_t33_650M_UR50D";

struct EmbedOptions {
    /// FASTA file (plain or gzip), or "-" for standard input.
    std::string input = "-";
    /// HDF5 file to write; it appears only when the run succeeds.
    std::filesystem::path output;
    /// Replace an existing output (and discard an unfinished run's parts).
    bool overwrite = false;
    /// Continue the unfinished run that writes `output`, skipping the proteins it saved.
    bool resume = false;
    /// A released model's name (models/*.json), found locally or downloaded, or the path of a
    /// checkpoint: a fair-esm .pt file, a Hugging Face directory, a SeqVec directory.
    std::string model = kDefaultModel;
    /// Looked in first for a model given by name (also $EMBED_MODEL_DIR).
    std::optional<std::filesystem::path> model_dir;
    /// Never download: a model that is not here is an error saying what to fetch.
    bool offline = false;
    /// "auto", "cpu", "cuda" or "cuda:N".
    std::string device = "auto";
    /// What the model computes in (kComputeDtypeNames): float32, bfloat16 (CPU and CUDA) or
    /// float16 (CUDA).
    torch::ScalarType dtype = torch::kFloat32;
    /// CPU threads; 0: SLURM_CPUS_PER_TASK, else every CPU this process may run on.
    int threads = 0;
    /// Tokens per forward pass, padding and special tokens included; unset: the model's default
    /// (ESM: 4096; SeqVec: 32768, as its LSTM's step is one matrix product per batch).
    std::optional<int64_t> max_tokens;
    /// Proteins read ahead, sorted by length and batched together: bounds memory.
    size_t sort_window = 20000;
    /// Longest protein (or window of one) the model reads, in residues; unset: the model's
    /// default (ESM: 1022, what it was trained on; SeqVec: no limit).
    std::optional<int64_t> max_length;
    LongPolicy long_policy = LongPolicy::chunk;
    /// Representation layers: "" (the model's default), "all", "sum", or a comma list
    /// (negatives from the end).
    std::string layers;
    Pooling pooling = Pooling::mean;
    bool per_residue = true;
    bool per_protein = true;
    /// Also write /contacts (ESM with its contact regression weights).
    bool contacts = false;
    StorageOptions storage;
    /// Write bio_embeddings' files into the directory `output` instead of one file.
    bool bio_embeddings_layout = false;
    FlushPolicy flush;
    /// "I/N" or "auto" (Slurm array); empty: the whole input.
    std::string shard;
    /// Skip invalid records with a warning instead of stopping.
    bool skip_invalid = false;
    /// Recorded in the output for provenance.
    std::string command_line;
};

struct RunSummary {
    size_t proteins = 0;    ///< in the output (this shard's), aliases included
    size_t embedded = 0;    ///< proteins run through the model by this process
    size_t resumed = 0;     ///< found done in the parts of an earlier run
    size_t duplicates = 0;  ///< written as copies of an identical sequence's embedding
    int64_t residues = 0;   ///< residues run through the model by this process
    size_t skipped = 0;     ///< invalid records skipped
    size_t truncated = 0;
    size_t chunked = 0;
    std::optional<int64_t> max_length;  ///< --max-length as applied, if any
    double seconds = 0;                 ///< whole run
    double embedding_seconds = 0;       ///< forward passes and writing, without start-up
};

/// Runs the job. Bad input throws BadInput (InputError for a record) before anything is
/// computed: records are checked against the model family's alphabet before the weights load.
/// Model and I/O problems throw std::runtime_error; a stop signal throws Interrupted after
/// the work so far is saved for --resume. The output file appears only on success.
RunSummary embed_fasta(const EmbedOptions& options);

}  // namespace embed
