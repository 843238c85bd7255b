// Stage 5, last step: files of embeddings (a run's parts, or the shards of an array job) put
// together into one file in input order, every protein once. Also `embed merge`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <vector>

#include "base/names.h"
#include "output/hdf5_writer.h"

namespace embed {

/// The run attributes of a file of embeddings (an output, a part or a shard).
RunAttributes read_run_attributes(const std::filesystem::path& file);

/// The indices of the proteins a file holds (aliases included).
std::vector<uint64_t> stored_indices(const std::filesystem::path& file);

struct MergeOptions {
    /// Every protein of the input (index below input_proteins) must be present.
    bool require_complete = true;
    /// Checked against every source's settings.
    const RunAttributes* expected = nullptr;
};

/// Copies the proteins of `sources` into a new file `destination`, in index order, each
/// alias as a copy of its protein's data under its own key and attributes; writes
/// `attributes` on the root. Throws BadInput naming the files when the sources'
/// settings differ, a protein is in two sources, or (require_complete) one is missing.
/// Returns the number of proteins written.
size_t merge_files(const std::vector<std::filesystem::path>& sources,
                   const std::filesystem::path& destination, const RunAttributes& attributes,
                   const MergeOptions& options);

/// What a run or `embed merge` writes.
enum class Layout {
    embed,           ///< one HDF5 file (hdf5_writer.h)
    bio_embeddings,  ///< a directory of bio_embeddings' files (export_bio_embeddings)
};

/// --layout's values.
inline constexpr NameTable<Layout, 2> kLayoutNames{
    {{"embed", Layout::embed}, {"bio-embeddings", Layout::bio_embeddings}}};

/// The files of --layout bio-embeddings, as bio_embeddings' embed stage writes them.
inline constexpr const char* kBioEmbeddingsFile = "embeddings_file.h5";
inline constexpr const char* kBioReducedEmbeddingsFile = "reduced_embeddings_file.h5";
inline constexpr const char* kBioMappingFile = "mapping_file.csv";

/// The file of a bio-embeddings directory that holds the run's attributes.
std::filesystem::path bio_embeddings_file(const std::filesystem::path& directory);

/// Writes the proteins of `sources` into `directory` (which must exist) in bio_embeddings'
/// layout: embeddings_file.h5 (per residue) and reduced_embeddings_file.h5 (per protein, the
/// layers summed) with one dataset per distinct sequence at the root, named by the MD5 of its
/// residues, with an `original_id` attribute; mapping_file.csv maps every protein, repeats
/// included, to its MD5 key (columns: key, original_id, sequence_length). Checks the sources
/// as merge_files does. Returns the number of proteins mapped.
size_t export_bio_embeddings(const std::vector<std::filesystem::path>& sources,
                             const std::filesystem::path& directory,
                             const RunAttributes& attributes, const MergeOptions& options);

/// The shard set of `embed merge`: `shards` must hold every shard 1..N of one array job
/// (`embed --shard I/N`) once. `read` gives a file's run attributes and is called once per file,
/// in order. Returns the first file's attributes; throws BadInput naming the files otherwise.
RunAttributes check_shard_set(
    const std::vector<std::filesystem::path>& shards,
    const std::function<RunAttributes(const std::filesystem::path&)>& read);

/// `embed merge`: the shards of an array job (`embed --shard I/N`) put together at `output`,
/// one file, or with `bio_embeddings_layout` a directory; an existing output is replaced only
/// with `overwrite`, and only once the new one is complete. Throws BadInput naming
/// the files unless every shard 1..N is given once, all written with the same settings and
/// input, and every protein is in one. Returns the number of proteins written.
size_t merge_shards(const std::vector<std::filesystem::path>& shards,
                    const std::filesystem::path& output, bool overwrite,
                    bool bio_embeddings_layout);

}  // namespace embed
