// The error the library throws for bad user input: it names the file, the line and the record,
// so a user can find the problem in a FASTA file of millions of proteins.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace embed {

class InputError : public std::invalid_argument {
public:
    /// `line` is 1-based (0 when no line applies); `record_id` may be empty.
    InputError(std::string file, size_t line, std::string record_id, const std::string& problem);

    const std::string& file() const { return file_; }
    size_t line() const { return line_; }
    const std::string& record_id() const { return record_id_; }
    /// The message without the location prefix.
    const std::string& problem() const { return problem_; }

private:
    std::string file_;
    size_t line_;
    std::string record_id_;
    std::string problem_;
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
