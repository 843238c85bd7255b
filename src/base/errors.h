// The errors the project throws (future folder: base/). Each carries the problem and where it
// is (file, and as known the line, the part of the file, the byte, the record), and builds its
// message from them once, so that no catch site adds a file's name by inspecting a message.
// The kind decides the command's exit status: BadInput (the user's flags or files) 2,
// FileError and any other exception 1, Interrupted 128 + the signal. A dependency's
// std::invalid_argument (std::stoll, a JSON or HDF5 wrapper) is none of these: the code that
// calls it converts it where it knows the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace embed {

/// Where a problem is; every part is optional.
struct Location {
    Location() = default;
    explicit Location(std::string file, size_t line = 0, std::string part = "",
                      std::optional<uint64_t> byte = std::nullopt, std::string record_id = "")
        : file(std::move(file)),
          line(line),
          part(std::move(part)),
          byte(byte),
          record_id(std::move(record_id)) {}

    /// The file's path, or the name given for standard input.
    std::string file;
    /// 1-based; 0: no line applies.
    size_t line = 0;
    /// What within the file: "tensor embed_tokens.weight", "pickle error", "config.json".
    std::string part;
    /// The offset, in bytes, of the problem in the file.
    std::optional<uint64_t> byte;
    /// The FASTA record.
    std::string record_id;
};

/// "FILE[:LINE][: PART][ at byte N][: record 'ID']: PROBLEM"; without a location, PROBLEM.
std::string describe(const Location& where, const std::string& problem);

/// What every error of the project has besides its what(). Mixed into the standard exception
/// it derives from, so that a caller may catch either.
class Error {
public:
    virtual ~Error() = default;

    const Location& where() const { return where_; }
    /// The message without the location.
    const std::string& problem() const { return problem_; }
    const std::string& file() const { return where_.file; }
    size_t line() const { return where_.line; }
    const std::string& record_id() const { return where_.record_id; }

protected:
    Error(Location where, std::string problem)
        : where_(std::move(where)), problem_(std::move(problem)) {}

private:
    Location where_;
    std::string problem_;
};

/// Bad user input: a flag, a setting, an input or output that cannot be used as given. Nothing
/// is computed or written; the command exits with status 2.
class BadInput : public std::invalid_argument, public Error {
public:
    /// A problem that is not about one file (a flag's value, a set of shards).
    explicit BadInput(const std::string& problem) : BadInput(Location{}, problem) {}
    BadInput(Location where, const std::string& problem)
        : std::invalid_argument(describe(where, problem)), Error(std::move(where), problem) {}
};

/// A record of the input that cannot be embedded; --skip-invalid skips exactly these.
class InputError : public BadInput {
public:
    /// `line` is 1-based (0 when no line applies); `record_id` may be empty.
    InputError(std::string file, size_t line, std::string record_id, const std::string& problem)
        : BadInput(Location{std::move(file), line, {}, std::nullopt, std::move(record_id)},
                   problem) {}
};

/// A file (a model, an input, an output, a part) that cannot be read or written, or whose
/// contents are damaged. The command exits with status 1.
class FileError : public std::runtime_error, public Error {
public:
    FileError(Location where, const std::string& problem)
        : std::runtime_error(describe(where, problem)), Error(std::move(where), problem) {}
};

/// A run stopped by SIGTERM, SIGINT or SIGHUP after saving its work.
class Interrupted : public std::runtime_error {
public:
    Interrupted(int signal_number, const std::string& message)
        : std::runtime_error(message), signal_(signal_number) {}
    int signal_number() const { return signal_; }

private:
    int signal_;
};

}  // namespace embed
