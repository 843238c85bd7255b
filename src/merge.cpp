#include "embed/merge.h"

#include <algorithm>
#include <fstream>
#include <list>
#include <map>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "embed/errors.h"
#include "embed/util/file.h"

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
};

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

void read_entries(hid_t file, size_t source, std::vector<Entry>& out) {
    const std::vector<std::string> groups = present_groups(file);
    if (!groups.empty()) {
        const h5::Handle group = h5::open_group(file, groups.front());
        for (std::string& key : h5::member_names(group.id())) {
            const h5::Handle dataset = h5::open_dataset(group.id(), key);
            const auto index = static_cast<uint64_t>(h5::read_int_attribute(dataset.id(), "index"));
            out.push_back(Entry{index, source, std::move(key), false, 0});
        }
    }
    if (H5Lexists(file, kAliasGroup, H5P_DEFAULT) > 0) {
        const h5::Handle group = h5::open_group(file, kAliasGroup);
        for (std::string& key : h5::member_names(group.id())) {
            const h5::Handle dataset = h5::open_dataset(group.id(), key);
            int64_t same_as = 0;
            h5::check(
                H5Dread(dataset.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &same_as),
                "alias " + key);
            const auto index = static_cast<uint64_t>(h5::read_int_attribute(dataset.id(), "index"));
            out.push_back(
                Entry{index, source, std::move(key), true, static_cast<uint64_t>(same_as)});
        }
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
            throw std::invalid_argument(paths_[source].string() + " has no /" + name);
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
        throw std::invalid_argument(path.string() + ": not a file of this tool's embeddings (" +
                                    e.what() + ")");
    }
}

std::string describe(const std::vector<std::string>& differences) {
    std::string out;
    for (const std::string& d : differences) {
        out += "\n  " + d;
    }
    return out;
}

}  // namespace

RunAttributes read_run_attributes(const fs::path& file) {
    return attributes_of(open_output_file(file).id(), file);
}

std::vector<uint64_t> stored_indices(const fs::path& file) {
    const h5::Handle handle = open_output_file(file);
    std::vector<Entry> entries;
    read_entries(handle.id(), 0, entries);
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
            const h5::Handle file = open_output_file(sources[s]);
            const RunAttributes found = attributes_of(file.id(), sources[s]);
            if (options.expected != nullptr) {
                const std::vector<std::string> differences = options.expected->differences(found);
                if (!differences.empty()) {
                    throw std::invalid_argument(sources[s].string() + " was written with other " +
                                                "settings:" + describe(differences));
                }
            }
            read_entries(file.id(), s, entries_);
        }
        std::sort(entries_.begin(), entries_.end(),
                  [](const Entry& a, const Entry& b) { return a.index < b.index; });
        for (size_t i = 1; i < entries_.size(); ++i) {
            if (entries_[i].index == entries_[i - 1].index) {
                throw std::invalid_argument("protein '" + entries_[i].key + "' (input protein " +
                                            std::to_string(entries_[i].index + 1) +
                                            ") is in both " +
                                            sources[entries_[i - 1].source].string() + " and " +
                                            sources[entries_[i].source].string());
            }
        }
        if (options.require_complete &&
            entries_.size() != static_cast<size_t>(attributes.input_proteins)) {
            uint64_t missing = 0;
            while (missing < entries_.size() && entries_[missing].index == missing) {
                ++missing;
            }
            throw std::invalid_argument(
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
            throw std::invalid_argument("input protein " + std::to_string(entry.same_as + 1) +
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

}  // namespace

size_t merge_files(const std::vector<fs::path>& sources, const fs::path& destination,
                   const RunAttributes& attributes, const MergeOptions& options) {
    const MergePlan plan(sources, attributes, options);
    h5::Handle out = create_output_file(destination);
    const std::vector<std::string> groups = stored_groups(attributes);
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
    h5::Handle embeddings;
    h5::Handle reduced;
    if (per_residue) {
        embeddings = create_output_file(embeddings_path);
    }
    if (per_protein) {
        reduced = create_output_file(reduced_path);
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
        const int64_t length = h5::has_attribute(own.id(), "original_length")
                                   ? h5::read_int_attribute(own.id(), "original_length")
                                   : h5::read_int_attribute(own.id(), "length");
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
            // bio_embeddings reduces several layers to one vector: their sum, averaged.
            const h5::FloatArray vector =
                h5::read_float_dataset(cache.group(data.source, kPerProteinGroup), data.key);
            std::vector<int64_t> shape(vector.shape.begin(), vector.shape.end());
            torch::Tensor values =
                torch::from_blob(const_cast<float*>(vector.values.data()), shape, torch::kFloat32);
            if (values.dim() == 2) {
                values = values.sum(0);
            }
            const h5::Handle written =
                write_embedding_dataset(reduced.id(), md5, values.contiguous(), storage);
            h5::write_attribute(written.id(), "original_id", original_id);
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
    return plan.entries().size();
}

}  // namespace embed
