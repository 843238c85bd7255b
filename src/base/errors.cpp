#include "base/errors.h"

namespace embed {
namespace {

std::string locate(const std::string& file, size_t line, const std::string& record_id,
                   const std::string& problem) {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line);
    }
    if (!record_id.empty()) {
        out += ": record '" + record_id + "'";
    }
    return out + ": " + problem;
}

}  // namespace

InputError::InputError(std::string file, size_t line, std::string record_id,
                       const std::string& problem)
    : std::invalid_argument(locate(file, line, record_id, problem)),
      file_(std::move(file)),
      line_(line),
      record_id_(std::move(record_id)),
      problem_(problem) {}

}  // namespace embed
