#include "embed/merge.h"

#include <algorithm>
#include <list>
#include <map>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

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

size_t merge_files(const std::vector<fs::path>& sources, const fs::path& destination,
                   const RunAttributes& attributes, const MergeOptions& options) {
    std::vector<Entry> entries;
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
        read_entries(file.id(), s, entries);
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.index < b.index; });
    for (size_t i = 1; i < entries.size(); ++i) {
        if (entries[i].index == entries[i - 1].index) {
            throw std::invalid_argument("protein '" + entries[i].key + "' (input protein " +
                                        std::to_string(entries[i].index + 1) + ") is in both " +
                                        sources[entries[i - 1].source].string() + " and " +
                                        sources[entries[i].source].string());
        }
    }
    if (options.require_complete &&
        entries.size() != static_cast<size_t>(attributes.input_proteins)) {
        uint64_t missing = 0;
        while (missing < entries.size() && entries[missing].index == missing) {
            ++missing;
        }
        throw std::invalid_argument(
            std::to_string(static_cast<size_t>(attributes.input_proteins) - entries.size()) +
            " of the input's " + std::to_string(attributes.input_proteins) +
            " proteins are in none of the files (the first is input protein " +
            std::to_string(missing + 1) + "); is a shard missing?");
    }
    const auto entry_of = [&](uint64_t index) -> const Entry& {
        const auto found = std::lower_bound(entries.begin(), entries.end(), index,
                                            [](const Entry& e, uint64_t i) { return e.index < i; });
        if (found == entries.end() || found->index != index || found->alias) {
            throw std::invalid_argument("input protein " + std::to_string(index + 1) +
                                        ", whose sequence others repeat, is in none of the files");
        }
        return *found;
    };

    h5::Handle out = create_output_file(destination);
    std::vector<std::string> groups;
    for (const std::string& g : output_group_names()) {
        if (("," + attributes.groups + ",").find("," + g + ",") != std::string::npos) {
            groups.push_back(g);
        }
    }
    std::vector<h5::Handle> out_groups;
    for (const std::string& g : groups) {
        out_groups.push_back(create_output_group(out.id(), g));
    }
    SourceCache cache(sources);
    for (const Entry& entry : entries) {
        const Entry& data = entry.alias ? entry_of(entry.same_as) : entry;
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
    h5::write_attribute(out.id(), "proteins", static_cast<int64_t>(entries.size()));
    for (h5::Handle& g : out_groups) {
        g.close(destination.string() + ": close group");
    }
    out.close(destination.string() + ": close");
    return entries.size();
}

}  // namespace embed
