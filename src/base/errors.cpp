#include "base/errors.h"

namespace embed {

std::string describe(const Location& where, const std::string& problem) {
    std::string out = where.file;
    if (where.line > 0) {
        out += ":" + std::to_string(where.line);
    }
    if (!where.part.empty()) {
        out += (out.empty() ? "" : ": ") + where.part;
    }
    if (where.byte) {
        out += (out.empty() ? "at byte " : " at byte ") + std::to_string(*where.byte);
    }
    if (!where.record_id.empty()) {
        out += (out.empty() ? "record '" : ": record '") + where.record_id + "'";
    }
    return out.empty() ? problem : out + ": " + problem;
}

}  // namespace embed
