#include "embed/output_parts.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "embed/util/file.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPartPrefix = "part-";
constexpr const char* kPartSuffix = ".h5";
constexpr const char* kTemporarySuffix = ".tmp";

std::string part_name(size_t number) {
    char name[32];
    std::snprintf(name, sizeof name, "%s%06zu%s", kPartPrefix, number, kPartSuffix);
    return name;
}

// The number of a committed part's file name, or 0 for anything else.
size_t part_number(const std::string& name) {
    const std::string prefix = kPartPrefix;
    const std::string suffix = kPartSuffix;
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return 0;
    }
    const std::string digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) {
        return 0;
    }
    return std::stoul(digits);
}

}  // namespace

fs::path OutputParts::directory_of(const fs::path& output) {
    return fs::path(output.string() + ".parts");
}

OutputParts::OutputParts(const fs::path& output, bool resume, bool overwrite)
    : directory_(directory_of(output)) {
    if (fs::exists(directory_) && !resume) {
        if (!overwrite) {
            throw std::invalid_argument(directory_.string() +
                                        " holds the work of an unfinished run: add --resume to " +
                                        "continue it, or --overwrite to start again");
        }
        fs::remove_all(directory_);
    }
    fs::create_directories(directory_);
    for (const auto& entry : fs::directory_iterator(directory_)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() == kTemporarySuffix) {
            fs::remove(entry.path());
        }
        next_number_ = std::max(next_number_, part_number(name) + 1);
    }
}

std::vector<fs::path> OutputParts::committed() const {
    std::vector<fs::path> parts;
    for (const auto& entry : fs::directory_iterator(directory_)) {
        if (part_number(entry.path().filename().string()) > 0) {
            parts.push_back(entry.path());
        }
    }
    std::sort(parts.begin(), parts.end());
    return parts;
}

fs::path OutputParts::next_temporary() {
    return directory_ / (part_name(next_number_++) + kTemporarySuffix);
}

void OutputParts::commit(const fs::path& temporary) {
    sync_file(temporary);
    fs::path final_name = temporary;
    final_name.replace_extension();
    fs::rename(temporary, final_name);
    sync_directory(directory_);
}

void OutputParts::remove() {
    fs::remove_all(directory_);
}

}  // namespace embed
