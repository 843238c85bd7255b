#include "output/merge.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "base/errors.h"
#include "base/file.h"
#include "base/isolated.h"
#include "output/output_parts.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

// A protein stored in one of the sources.
struct Entry {
    uint64_t index = 0;
    size_t source = 0;
    std::string key;
    bool alias = false;
    uint64_t same_as = 0;
    std::vector<uint64_t> stored_bytes;  ///< of its datasets on disk, by group; none for aliases
};

// The groups `attributes` says the files hold, in their order of creation.
std::vector<std::string> stored_groups(const RunAttributes& attributes) {
    std::vector<std::string> groups;
    for (const std::string& g : output_group_names()) {
        if (("," + attributes.groups + ",").find("," + g + ",") != std::string::npos) {
            groups.push_back(g);
        }
    }
    return groups;
}

// The groups of `file` among those an output may have.
std::vector<std::string> present_groups(hid_t file) {
    std::vector<std::string> present;
    for (const std::string& name : output_group_names()) {
        if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) {
            present.push_back(name);
        }
    }
    return present;
}

std::string shape_text(const std::vector<hsize_t>& shape) {
    std::string out = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    }
    return out + (shape.size() == 1 ? ",)" : ")");
}

// The shape the writer gives a protein of `length` residues in `group`.
std::vector<hsize_t> expected_shape(const std::string& group, const RunAttributes& settings,
                                    int64_t length) {
    const auto layers = static_cast<hsize_t>(settings.stored_layers());
    const auto width = static_cast<hsize_t>(settings.embedding_dim);
    const auto residues = static_cast<hsize_t>(length);
    if (group == kContactsGroup) {
        return {residues, residues};
    }
    std::vector<hsize_t> shape;
    if (layers != 1) {
        shape.push_back(layers);
    }
    if (group == kPerResidueGroup) {
        shape.push_back(residues);
    }
    shape.push_back(width);
    return shape;
}

// An integer attribute of a protein's dataset, within [min, max].
int64_t protein_attribute(hid_t dataset, const char* name, int64_t min, int64_t max) {
    const int64_t value = h5::read_int_attribute(dataset, name);
    if (const std::string error = attribute_range_error(name, value, min, max); !error.empty()) {
        throw BadInput(error);
    }
    return value;
}

// Where the dataset's values are must lie within the file: libhdf5 1.10.8's H5Ocopy crashes
// (SIGSEGV in its cleanup) when it cannot read them, as after any failure.
void check_data_within(hid_t dataset, H5D_layout_t layout, hid_t space, uint64_t file_size) {
    const auto within = [&](haddr_t address, uint64_t size) {
        return address != HADDR_UNDEF && address <= file_size && size <= file_size - address;
    };
    if (layout == H5D_CONTIGUOUS) {
        const haddr_t address = H5Dget_offset(dataset);
        const uint64_t size = H5Dget_storage_size(dataset);
        if (size > 0 && !within(address, size)) {
            throw BadInput("its values lie outside the file");
        }
    } else if (layout == H5D_CHUNKED) {
        hsize_t chunks = 0;
        h5::check(H5Dget_num_chunks(dataset, space, &chunks), "chunks");
        for (hsize_t i = 0; i < chunks; ++i) {
            haddr_t address = HADDR_UNDEF;
            hsize_t size = 0;
            h5::check(H5Dget_chunk_info(dataset, space, i, nullptr, nullptr, &address, &size),
                      "chunk " + std::to_string(i));
            if (!within(address, size)) {
                throw BadInput("chunk " + std::to_string(i) + " lies outside the file");
            }
        }
    }
}

// A protein's dataset as the writer makes it under the file's settings: its type, shape and
// storage, and nothing that reads data from elsewhere (virtual layout, external raw files).
void check_protein_dataset(hid_t dataset, const std::string& group, const RunAttributes& settings,
                           int64_t length, uint64_t file_size) {
    const h5::Handle type(H5Dget_type(dataset), H5Tclose, "type");
    const size_t value_bytes = settings.storage_dtype == "float16" ? 2 : 4;
    if (H5Tget_class(type.id()) != H5T_FLOAT || H5Tget_size(type.id()) != value_bytes) {
        throw BadInput("not " + settings.storage_dtype + ", as the root's storage_dtype says");
    }
    const h5::Handle space(H5Dget_space(dataset), H5Sclose, "dataspace");
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (H5Sget_simple_extent_type(space.id()) != H5S_SIMPLE || rank < 1 || rank > 3) {
        throw BadInput("not an array of 1 to 3 dimensions");
    }
    std::vector<hsize_t> shape(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), shape.data(), nullptr);
    const std::vector<hsize_t> expected = expected_shape(group, settings, length);
    if (shape != expected) {
        throw BadInput("shape " + shape_text(shape) + ", where the root's settings " +
                       "and the length " + std::to_string(length) + " give " +
                       shape_text(expected));
    }
    const h5::Handle properties(H5Dget_create_plist(dataset), H5Pclose, "dataset properties");
    const H5D_layout_t layout = H5Pget_layout(properties.id());
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
        throw BadInput("a virtual dataset (its data is in other files)");
    }
    if (H5Pget_external_count(properties.id()) != 0) {
        throw BadInput("stored in external raw files");
    }
    check_data_within(dataset, layout, space.id(), file_size);
    const int filters = H5Pget_nfilters(properties.id());
    for (int i = 0; i < filters; ++i) {
        unsigned flags = 0;
        size_t values = 0;
        unsigned config = 0;
        const H5Z_filter_t filter = H5Pget_filter2(properties.id(), static_cast<unsigned>(i),
                                                   &flags, &values, nullptr, 0, nullptr, &config);
        if (filter != H5Z_FILTER_SHUFFLE && filter != H5Z_FILTER_DEFLATE) {
            throw BadInput("filter " + std::to_string(filter) +
                           " (this tool writes shuffle and gzip only)");
        }
    }
    if ((filters > 0) != (settings.compression > 0) &&
        H5Sget_simple_extent_npoints(space.id()) > 0) {
        throw BadInput(std::string(filters > 0 ? "compressed" : "not compressed") +
                       ", but the root's compression is " + std::to_string(settings.compression));
    }
}

// The last index a protein of a file of `settings` may have. Proteins left out for their
// length (--long skip, or error with --skip-invalid) keep their positions: the indices then
// reach past the count of proteins written, up to the count of records (unknown in files of
// versions that did not record it).
int64_t last_protein_index(const RunAttributes& settings) {
    const bool sparse = settings.long_policy == "skip" || settings.long_policy == "error";
    return !sparse                      ? settings.input_proteins - 1
           : settings.input_records > 0 ? settings.input_records - 1
                                        : std::numeric_limits<int64_t>::max();
}

// read_entries' aliases (/_aliases of a part): each a single integer, the index of an earlier
// protein. `where` follows the object read, for the error.
void read_alias_entries(hid_t file, int64_t last_index, size_t source, std::string& where,
                        std::vector<Entry>& out) {
    where = std::string("/") + kAliasGroup;
    if (H5Lexists(file, kAliasGroup, H5P_DEFAULT) > 0) {
        h5::require_hard_link(file, kAliasGroup);
        const h5::Handle group = h5::open_group(file, kAliasGroup);
        for (const std::string& key : h5::member_names(group.id())) {
            where = std::string("/") + kAliasGroup + "/" + key;
            h5::require_hard_link(group.id(), key);
            const h5::Handle dataset = h5::open_dataset(group.id(), key);
            const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
            const h5::Handle space(H5Dget_space(dataset.id()), H5Sclose, "dataspace");
            if (H5Tget_class(type.id()) != H5T_INTEGER ||
                H5Sget_simple_extent_type(space.id()) != H5S_SCALAR) {
                throw BadInput("not a single integer");
            }
            int64_t same_as = 0;
            h5::check(
                H5Dread(dataset.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &same_as),
                "read");
            const int64_t index = protein_attribute(dataset.id(), "index", 0, last_index);
            protein_attribute(dataset.id(), "length", 0, std::numeric_limits<int32_t>::max());
            if (same_as < 0 || same_as >= index) {
                throw BadInput("repeats input protein " + std::to_string(same_as + 1) +
                               ", which is not an earlier one");
            }
            out.push_back(Entry{static_cast<uint64_t>(index), source, key, true,
                                static_cast<uint64_t>(same_as), std::vector<uint64_t>()});
        }
    }
}

// The proteins of one file, checked against the file's own settings: the groups it says it
// holds and no other, the same proteins in each, every dataset's type and shape, indices among
// the input's proteins, and hard links only. Throws BadInput naming `path` and
// the object for anything else.
void read_entries(hid_t file, const RunAttributes& settings, const fs::path& path, size_t source,
                  std::vector<Entry>& out) {
    std::string where;
    try {
        const uint64_t file_size = fs::file_size(path);
        const std::vector<std::string> groups = stored_groups(settings);
        if (present_groups(file) != groups) {
            where = "/";
            throw BadInput("its groups are not those its root attribute groups (" +
                           settings.groups + ") names");
        }
        std::vector<h5::Handle> handles;
        for (const std::string& g : groups) {
            where = "/" + g;
            h5::require_hard_link(file, g);
            handles.push_back(h5::open_group(file, g));
        }
        const int64_t last_index = last_protein_index(settings);
        const std::vector<std::string> keys = h5::member_names(handles.front().id());
        for (size_t g = 1; g < groups.size(); ++g) {
            const size_t count = h5::member_names(handles[g].id()).size();
            if (count != keys.size()) {
                where = "/" + groups[g];
                throw BadInput(std::to_string(count) + " proteins, /" + groups.front() + " " +
                               std::to_string(keys.size()));
            }
        }
        for (const std::string& key : keys) {
            std::vector<uint64_t> stored_bytes;
            int64_t index = -1;
            int64_t length = -1;
            for (size_t g = 0; g < groups.size(); ++g) {
                where = "/" + groups[g] + "/" + key;
                h5::require_hard_link(handles[g].id(), key);
                const h5::Handle dataset = h5::open_dataset(handles[g].id(), key);
                const int64_t own_index = protein_attribute(dataset.id(), "index", 0, last_index);
                const int64_t own_length =
                    protein_attribute(dataset.id(), "length", 0,
                                      settings.max_length > 0 && settings.long_policy == "truncate"
                                          ? settings.max_length
                                          : std::numeric_limits<int32_t>::max());
                if (g > 0 && (own_index != index || own_length != length)) {
                    throw BadInput("index " + std::to_string(own_index) + " and length " +
                                   std::to_string(own_length) + ", /" + groups.front() + "/" + key +
                                   " " + std::to_string(index) + " and " + std::to_string(length));
                }
                index = own_index;
                length = own_length;
                check_protein_dataset(dataset.id(), groups[g], settings, length, file_size);
                stored_bytes.push_back(H5Dget_storage_size(dataset.id()));
            }
            out.push_back(Entry{static_cast<uint64_t>(index), source, key, false, 0,
                                std::move(stored_bytes)});
        }
        read_alias_entries(file, last_index, source, where, out);
    } catch (const std::exception& e) {
        // libhdf5's errors here are about the file's contents too: a damaged or crafted input.
        throw BadInput(path.string() + ": " + where + ": " + e.what());
    }
}

// Open sources, least recently used first out: parts are read nearly in order, so a few open
// files serve a merge of thousands.
class SourceCache {
public:
    explicit SourceCache(const std::vector<fs::path>& paths) : paths_(paths) {}

    hid_t group(size_t source, const std::string& name) {
        auto found = std::find_if(open_.begin(), open_.end(),
                                  [&](const Open& o) { return o.source == source; });
        if (found == open_.end()) {
            if (open_.size() == kMaxOpen) {
                open_.pop_back();
            }
            Open o{source, open_output_file(paths_[source]), {}};
            std::vector<std::string> names = present_groups(o.file.id());
            if (H5Lexists(o.file.id(), kAliasGroup, H5P_DEFAULT) > 0) {
                names.emplace_back(kAliasGroup);
            }
            for (const std::string& g : names) {
                o.groups.emplace(g, h5::open_group(o.file.id(), g));
            }
            open_.push_front(std::move(o));
        } else if (found != open_.begin()) {
            open_.splice(open_.begin(), open_, found);
        }
        const auto g = open_.front().groups.find(name);
        if (g == open_.front().groups.end()) {
            throw BadInput(paths_[source].string() + " has no /" + name);
        }
        return g->second.id();
    }

private:
    static constexpr size_t kMaxOpen = 4;
    struct Open {
        size_t source;
        h5::Handle file;
        std::map<std::string, h5::Handle> groups;
    };
    const std::vector<fs::path>& paths_;
    std::list<Open> open_;
};

RunAttributes attributes_of(hid_t file, const fs::path& path) {
    try {
        return RunAttributes::read(file);
    } catch (const std::runtime_error& e) {
        throw BadInput(path.string() + ": not a file of this tool's embeddings, " +
                       "or damaged: " + e.what());
    }
}

std::string describe(const std::vector<std::string>& differences) {
    std::string out;
    for (const std::string& d : differences) {
        out += "\n  " + d;
    }
    return out;
}

// libhdf5 1.10.8 crashes (SIGSEGV, heap corruption) on some damaged files: 40 of 3,000
// randomly changed outputs did (tests/fuzz/fuzz_output_file.cpp). A file given to merge or
// found by --resume is therefore read whole first in a child process, and read here only once
// the child has read it without crashing: libhdf5 reads the same bytes the same way.
void read_in_child_first(const fs::path& path) {
    // A file read whole once (a shard's attributes, then its proteins) needs no second child,
    // unless it changed since.
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) {
        open_output_file(path);  // says why, in one line
    }
    const std::string identity =
        std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino) + ":" +
        std::to_string(status.st_size) + ":" + std::to_string(status.st_mtim.tv_sec) + "." +
        std::to_string(status.st_mtim.tv_nsec);
    static std::mutex read_mutex;
    static std::unordered_set<std::string> read_whole;
    {
        const std::lock_guard<std::mutex> lock(read_mutex);
        if (read_whole.count(identity) > 0) {
            return;
        }
    }
    std::string invalid;
    try {
        const std::lock_guard<std::mutex> lock(h5::calls_mutex());
        invalid = run_isolated(
            [&] {
                try {
                    const h5::Handle file = open_output_file(path);
                    std::vector<Entry> entries;
                    read_entries(file.id(), attributes_of(file.id(), path), path, 0, entries);
                    return std::string();
                } catch (const BadInput& e) {
                    return std::string(e.what());
                }
            },
            cpu_seconds_to_read(static_cast<uint64_t>(status.st_size)));
    } catch (const ChildCrashed& e) {
        throw BadInput(path.string() + ": libhdf5 " + e.what() +
                       " reading the file; it is damaged");
    }
    if (!invalid.empty()) {
        throw BadInput(invalid);
    }
    const std::lock_guard<std::mutex> lock(read_mutex);
    read_whole.insert(identity);
}

}  // namespace

RunAttributes read_run_attributes(const fs::path& file) {
    read_in_child_first(file);
    return attributes_of(open_output_file(file).id(), file);
}

std::vector<uint64_t> stored_indices(const fs::path& file) {
    read_in_child_first(file);
    const h5::Handle handle = open_output_file(file);
    std::vector<Entry> entries;
    read_entries(handle.id(), attributes_of(handle.id(), file), file, 0, entries);
    std::vector<uint64_t> indices;
    for (const Entry& e : entries) {
        indices.push_back(e.index);
    }
    return indices;
}

namespace {

// The sources' proteins in index order, checked: settings, doubles, completeness.
class MergePlan {
public:
    MergePlan(const std::vector<fs::path>& sources, const RunAttributes& attributes,
              const MergeOptions& options) {
        for (size_t s = 0; s < sources.size(); ++s) {
            read_in_child_first(sources[s]);
            const h5::Handle file = open_output_file(sources[s]);
            const RunAttributes found = attributes_of(file.id(), sources[s]);
            if (options.expected != nullptr) {
                const std::vector<std::string> differences = options.expected->differences(found);
                if (!differences.empty()) {
                    throw BadInput(sources[s].string() + " was written with other " +
                                   "settings:" + describe(differences));
                }
            }
            read_entries(file.id(), found, sources[s], s, entries_);
        }
        std::sort(entries_.begin(), entries_.end(),
                  [](const Entry& a, const Entry& b) { return a.index < b.index; });
        for (size_t i = 1; i < entries_.size(); ++i) {
            if (entries_[i].index == entries_[i - 1].index) {
                throw BadInput("protein '" + entries_[i].key + "' (input protein " +
                               std::to_string(entries_[i].index + 1) + ") is in both " +
                               sources[entries_[i - 1].source].string() + " and " +
                               sources[entries_[i].source].string());
            }
        }
        std::unordered_map<std::string_view, const Entry*> by_key;
        by_key.reserve(entries_.size());
        for (const Entry& e : entries_) {
            const auto [other, first] = by_key.emplace(e.key, &e);
            if (!first) {
                throw BadInput("input proteins " + std::to_string(other->second->index + 1) +
                               " (in " + sources[other->second->source].string() + ") and " +
                               std::to_string(e.index + 1) + " (in " + sources[e.source].string() +
                               ") have the same key '" + e.key + "'");
            }
        }
        if (options.require_complete &&
            entries_.size() > static_cast<size_t>(attributes.input_proteins)) {
            throw BadInput("the files hold " + std::to_string(entries_.size()) +
                           " proteins, more than the " + std::to_string(attributes.input_proteins) +
                           " of the input");
        }
        if (options.require_complete &&
            entries_.size() != static_cast<size_t>(attributes.input_proteins)) {
            uint64_t missing = 0;
            while (missing < entries_.size() && entries_[missing].index == missing) {
                ++missing;
            }
            throw BadInput(
                std::to_string(static_cast<size_t>(attributes.input_proteins) - entries_.size()) +
                " of the input's " + std::to_string(attributes.input_proteins) +
                " proteins are in none of the files (the first is input protein " +
                std::to_string(missing + 1) + "); is a shard missing?");
        }
    }

    const std::vector<Entry>& entries() const { return entries_; }

    /// The protein whose data `entry` holds: itself, or for an alias the protein it repeats.
    const Entry& data_of(const Entry& entry) const {
        if (!entry.alias) {
            return entry;
        }
        const auto found = std::lower_bound(entries_.begin(), entries_.end(), entry.same_as,
                                            [](const Entry& e, uint64_t i) { return e.index < i; });
        if (found == entries_.end() || found->index != entry.same_as || found->alias) {
            throw BadInput("input protein " + std::to_string(entry.same_as + 1) +
                           ", whose sequence others repeat, is in none of the files");
        }
        return *found;
    }

private:
    std::vector<Entry> entries_;
};

// Ends a merge between two proteins when a graceful stop was asked for (set_graceful_stop):
// the caller removes the unfinished destination and says what is saved.
void stop_if_requested() {
    if (const int signal_number = stop_requested(); signal_number != 0) {
        throw Interrupted(signal_number,
                          "stopped by signal " + std::to_string(signal_number) + " while merging");
    }
}

}  // namespace

size_t merge_files(const std::vector<fs::path>& sources, const fs::path& destination,
                   const RunAttributes& attributes, const MergeOptions& options) {
    const MergePlan plan(sources, attributes, options);
    const std::vector<std::string> groups = stored_groups(attributes);
    const StorageOptions storage{parse_storage_dtype(attributes.storage_dtype),
                                 static_cast<int>(attributes.compression)};
    uint64_t needed = reserved_file_bytes(attributes.command_line.size());
    for (const Entry& entry : plan.entries()) {
        for (const uint64_t bytes : plan.data_of(entry).stored_bytes) {
            needed += reserved_dataset_bytes(bytes, entry.key.size(), storage);
        }
    }
    DiskReservation reservation;  // before `out`: given back after the file is closed
    require_free_space(destination, needed);
    h5::Handle out = create_output_file(destination);
    reservation = DiskReservation(destination);
    reservation.reserve_beyond_end(needed);
    std::vector<h5::Handle> out_groups;
    for (const std::string& g : groups) {
        out_groups.push_back(create_output_group(out.id(), g));
    }
    SourceCache cache(sources);
    for (const Entry& entry : plan.entries()) {
        stop_if_requested();
        const Entry& data = plan.data_of(entry);
        for (size_t g = 0; g < groups.size(); ++g) {
            const std::string where = destination.string() + ": /" + groups[g] + "/" + entry.key;
            h5::check(H5Ocopy(cache.group(data.source, groups[g]), data.key.c_str(),
                              out_groups[g].id(), entry.key.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      where + ": copy from " + sources[data.source].string());
            if (entry.alias) {
                // The copy carries the embedded protein's attributes; these are the alias's.
                const h5::Handle alias_source =
                    h5::open_dataset(cache.group(entry.source, kAliasGroup), entry.key);
                const h5::Handle copy = h5::open_dataset(out_groups[g].id(), entry.key);
                for (const char* name : {"original_id", "description"}) {
                    h5::write_attribute(copy.id(), name,
                                        h5::read_string_attribute(alias_source.id(), name));
                }
                h5::write_attribute(copy.id(), "index", static_cast<int64_t>(entry.index));
            }
        }
    }
    attributes.write(out.id());
    h5::write_attribute(out.id(), "proteins", static_cast<int64_t>(plan.entries().size()));
    for (h5::Handle& g : out_groups) {
        g.close(destination.string() + ": close group");
    }
    out.close(destination.string() + ": close");
    reservation.release();
    return plan.entries().size();
}

namespace {

// A field of a CSV file as pandas writes it: quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
        return text;
    }
    std::string quoted = "\"";
    for (const char c : text) {
        quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    }
    return quoted + "\"";
}

}  // namespace

fs::path bio_embeddings_file(const fs::path& directory) {
    return fs::exists(directory / kBioEmbeddingsFile) ? directory / kBioEmbeddingsFile
                                                      : directory / kBioReducedEmbeddingsFile;
}

namespace {

// The bytes to claim for bio_embeddings' two files (README, "--layout bio-embeddings"): at most
// one dataset per protein in each, its copy and its layers' sum.
std::pair<uint64_t, uint64_t> bio_embeddings_bytes(const MergePlan& plan,
                                                   const RunAttributes& attributes,
                                                   const StorageOptions& storage,
                                                   bool per_residue) {
    uint64_t embeddings_bytes = reserved_file_bytes(attributes.command_line.size());
    uint64_t reduced_bytes = embeddings_bytes;
    const uint64_t reduced_values =
        static_cast<uint64_t>(attributes.embedding_dim) * torch::elementSize(storage.dtype);
    for (const Entry& entry : plan.entries()) {
        if (per_residue) {
            embeddings_bytes +=
                reserved_dataset_bytes(plan.data_of(entry).stored_bytes.front(), 0, storage);
        }
        reduced_bytes += reserved_dataset_bytes(reduced_values, 0, storage);
    }
    return {embeddings_bytes, reduced_bytes};
}

// A file of embeddings, `bytes` claimed beyond its end by `reservation` (which must outlive it).
h5::Handle create_claimed_file(const fs::path& path, uint64_t bytes, DiskReservation& reservation) {
    h5::Handle file = create_output_file(path);
    reservation = DiskReservation(path);
    reservation.reserve_beyond_end(bytes);
    return file;
}

// The residues of a protein's input record: more than it stores when truncated.
int64_t input_length(hid_t dataset) {
    return h5::has_attribute(dataset, "original_length")
               ? h5::read_int_attribute(dataset, "original_length")
               : h5::read_int_attribute(dataset, "length");
}

// The per-protein vector `key` of `per_protein` as `md5` in `reduced`: bio_embeddings reduces
// several layers to one vector, their sum, averaged.
void write_reduced_embedding(hid_t per_protein, const std::string& key, hid_t reduced,
                             const std::string& md5, const std::string& original_id,
                             const StorageOptions& storage) {
    const h5::FloatArray vector = h5::read_float_dataset(per_protein, key);
    std::vector<int64_t> shape(vector.shape.begin(), vector.shape.end());
    torch::Tensor values =
        torch::from_blob(const_cast<float*>(vector.values.data()), shape, torch::kFloat32);
    if (values.dim() == 2) {
        values = values.sum(0);
    }
    const h5::Handle written = write_embedding_dataset(reduced, md5, values.contiguous(), storage);
    h5::write_attribute(written.id(), "original_id", original_id);
}

}  // namespace

size_t export_bio_embeddings(const std::vector<fs::path>& sources, const fs::path& directory,
                             const RunAttributes& attributes, const MergeOptions& options) {
    const MergePlan plan(sources, attributes, options);
    const std::vector<std::string> groups = stored_groups(attributes);
    const bool per_residue =
        std::find(groups.begin(), groups.end(), kPerResidueGroup) != groups.end();
    const bool per_protein =
        std::find(groups.begin(), groups.end(), kPerProteinGroup) != groups.end();
    const std::string attributes_group = per_residue ? kPerResidueGroup : kPerProteinGroup;
    const StorageOptions storage{parse_storage_dtype(attributes.storage_dtype),
                                 static_cast<int>(attributes.compression)};

    const fs::path embeddings_path = directory / kBioEmbeddingsFile;
    const fs::path reduced_path = directory / kBioReducedEmbeddingsFile;
    const fs::path mapping_path = directory / kBioMappingFile;
    const auto [embeddings_bytes, reduced_bytes] =
        bio_embeddings_bytes(plan, attributes, storage, per_residue);
    DiskReservation embeddings_reservation;  // before the files: given back after they close
    DiskReservation reduced_reservation;
    h5::Handle embeddings;
    h5::Handle reduced;
    require_free_space(per_residue ? embeddings_path : reduced_path,
                       (per_residue ? embeddings_bytes : 0) + (per_protein ? reduced_bytes : 0));
    if (per_residue) {
        embeddings = create_claimed_file(embeddings_path, embeddings_bytes, embeddings_reservation);
    }
    if (per_protein) {
        reduced = create_claimed_file(reduced_path, reduced_bytes, reduced_reservation);
    }
    std::ofstream mapping(mapping_path);
    mapping << ",original_id,sequence_length\n";

    SourceCache cache(sources);
    for (const Entry& entry : plan.entries()) {
        stop_if_requested();
        const Entry& data = plan.data_of(entry);
        const hid_t source = cache.group(data.source, attributes_group);
        const h5::Handle stored = h5::open_dataset(source, data.key);
        const std::string md5 = h5::read_string_attribute(stored.id(), "sequence_md5");
        // The alias's own id and length, from its entry in the source's /_aliases.
        const h5::Handle own =
            entry.alias ? h5::open_dataset(cache.group(entry.source, kAliasGroup), entry.key)
                        : h5::open_dataset(source, data.key);
        const std::string original_id = h5::read_string_attribute(own.id(), "original_id");
        const int64_t length = input_length(own.id());
        mapping << md5 << ',' << csv_field(original_id) << ',' << length << '\n';

        // One dataset per distinct sequence: repeats (also across shards) share it.
        const hid_t first_file = per_residue ? embeddings.id() : reduced.id();
        if (H5Lexists(first_file, md5.c_str(), H5P_DEFAULT) > 0) {
            continue;
        }
        if (per_residue) {
            h5::check(H5Ocopy(cache.group(data.source, kPerResidueGroup), data.key.c_str(),
                              embeddings.id(), md5.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      embeddings_path.string() + ": copy of '" + original_id + "' from " +
                          sources[data.source].string());
        }
        if (per_protein) {
            write_reduced_embedding(cache.group(data.source, kPerProteinGroup), data.key,
                                    reduced.id(), md5, original_id, storage);
        }
    }
    mapping.close();
    if (!mapping) {
        throw std::runtime_error(mapping_path.string() + ": cannot write");
    }
    for (h5::Handle* file : {&embeddings, &reduced}) {
        if (file->id() >= 0) {
            attributes.write(file->id());
            file->close(directory.string() + ": close");
        }
    }
    embeddings_reservation.release();
    reduced_reservation.release();
    return plan.entries().size();
}

RunAttributes check_shard_set(const std::vector<fs::path>& shards,
                              const std::function<RunAttributes(const fs::path&)>& read) {
    if (shards.empty()) {
        throw BadInput("no shards to merge");
    }
    const RunAttributes merged = read(shards.front());
    // Owners by shard number, as many as given: the files' own `shards` decides nothing about
    // how much is allocated.
    std::map<int64_t, const fs::path*> owner;
    for (const fs::path& source : shards) {
        const RunAttributes found = &source == &shards.front() ? merged : read(source);
        if (found.shards != merged.shards) {
            throw BadInput(source.string() + " was written with other settings:\n" + "  shards: " +
                           std::to_string(merged.shards) + " vs " + std::to_string(found.shards) +
                           " (it is shard " + std::to_string(found.shard) + " of " +
                           std::to_string(found.shards) + ")");
        }
        const auto [first, added] = owner.emplace(found.shard, &source);
        if (!added) {
            throw BadInput("shard " + std::to_string(found.shard) +
                           " twice: " + first->second->string() + " and " + source.string());
        }
    }
    if (owner.size() != static_cast<size_t>(merged.shards)) {
        int64_t missing = 1;
        while (owner.count(missing) > 0) {
            ++missing;
        }
        throw BadInput("shard " + std::to_string(missing) + " of " + std::to_string(merged.shards) +
                       " is missing (" +
                       std::to_string(merged.shards - static_cast<int64_t>(owner.size())) + " of " +
                       std::to_string(merged.shards) + " are)");
    }
    return merged;
}

size_t merge_shards(const std::vector<fs::path>& shards, const fs::path& output, bool overwrite,
                    bool bio_embeddings_layout) {
    check_output_name(output);
    const OutputLock lock(output);  // no run, nor another merge, writes it meanwhile
    if (fs::exists(output) && !overwrite) {
        throw BadInput(output.string() + " exists: --overwrite replaces it");
    }
    const RunAttributes merged = check_shard_set(shards, read_run_attributes);
    MergeOptions options;
    options.expected = &merged;
    options.require_complete = true;
    RunAttributes whole = merged;
    whole.shard = 1;
    whole.shards = 1;
    // A signal stops the merge between two proteins, so that the unfinished output (a
    // directory too, which the signal handler cannot remove) goes as the stack unwinds.
    const GracefulStop graceful;
    try {
        if (bio_embeddings_layout) {
            AtomicDirectory destination(output);
            const size_t proteins =
                export_bio_embeddings(shards, destination.temporary_path(), whole, options);
            destination.commit();
            return proteins;
        }
        AtomicOutput destination(output);
        const size_t proteins = merge_files(shards, destination.temporary_path(), whole, options);
        destination.commit();
        return proteins;
    } catch (const Interrupted& e) {
        throw Interrupted(e.signal_number(),
                          "stopped by signal " + std::to_string(e.signal_number()) +
                              " while merging into " + output.string() +
                              "; nothing was written there. Run the same command again");
    }
}

}  // namespace embed
