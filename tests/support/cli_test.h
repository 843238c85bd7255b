// The end-to-end tests' fixture: a temporary directory, an output path in it, and comparisons of
// outputs.
#pragma once

#include <filesystem>

#include "base/hdf5.h"

#include "test_support.h"

namespace embed::testing {

/// Each test in a fresh directory, with libhdf5's own printing of errors off.
class Cli : public ::testing::Test {
protected:
    void SetUp() override { h5::silence_library_errors(); }
    TempDir dir_;
    std::filesystem::path out_ = dir_ / "out.h5";
};

/// Keys and values of two outputs are the same (order included).
void expect_same_output(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace embed::testing
