// The project's errors (errors.h) and the name tables of the flags' values (util/names.h).
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "base/errors.h"
#include "base/names.h"
#include "encode/pooling.h"
#include "encode/runtime.h"
#include "input/validation.h"
#include "output/merge.h"

namespace embed {
namespace {

TEST(Errors, TheMessageIsBuiltFromTheLocationOnce) {
    EXPECT_EQ(describe(Location{"in.fasta", 3, "", std::nullopt, "b"}, "bad residue"),
              "in.fasta:3: record 'b': bad residue");
    EXPECT_EQ(describe(Location{"model.pt", 0, "pickle error", 17}, "truncated"),
              "model.pt: pickle error at byte 17: truncated");
    EXPECT_EQ(describe(Location{"m.safetensors", 0, "tensor w"}, "impossible shape"),
              "m.safetensors: tensor w: impossible shape");
    EXPECT_EQ(describe(Location{"x.h5"}, "damaged"), "x.h5: damaged");
    EXPECT_EQ(describe(Location{}, "--max-tokens must be positive"),
              "--max-tokens must be positive");
}

// The kinds the exit status is decided by; the standard bases keep every existing catch valid.
static_assert(std::is_base_of_v<std::invalid_argument, BadInput>);
static_assert(std::is_base_of_v<BadInput, InputError>);
static_assert(std::is_base_of_v<std::runtime_error, FileError>);
static_assert(!std::is_base_of_v<std::invalid_argument, FileError>);
static_assert(std::is_base_of_v<Error, BadInput> && std::is_base_of_v<Error, FileError>);

TEST(Errors, KindsKeepTheirParts) {
    const InputError record("in.fasta", 4, "p1", "header without an id");
    const BadInput& bad = record;
    EXPECT_EQ(std::string(bad.what()), "in.fasta:4: record 'p1': header without an id");
    EXPECT_EQ(record.problem(), "header without an id");
    EXPECT_EQ(record.file(), "in.fasta");
    EXPECT_EQ(record.line(), 4u);
    EXPECT_EQ(record.record_id(), "p1");

    const FileError damaged(Location{"w.h5", 0, "dataset /a"}, "not floating point");
    EXPECT_EQ(std::string(damaged.what()), "w.h5: dataset /a: not floating point");
}

TEST(NameTables, ParsingNamingAndTheMessageComeFromOneTable) {
    EXPECT_EQ(parse_named(kPoolingNames, "--pooling", "bos"), Pooling::bos);
    EXPECT_STREQ(name_of(kLongPolicyNames, LongPolicy::truncate), "truncate");
    EXPECT_EQ(names_of(kComputeDtypeNames), "float32, bfloat16, float16");
    EXPECT_EQ(find_named(kLayoutNames, "bio-embeddings"), Layout::bio_embeddings);
    EXPECT_EQ(find_named(kLayoutNames, "bio_embeddings"), std::nullopt);
    try {
        parse_named(kLongPolicyNames, "--long", "drop");
        ADD_FAILURE() << "--long drop accepted";
    } catch (const BadInput& e) {
        EXPECT_EQ(std::string(e.what()),
                  "--long: 'drop' is not one of chunk, truncate, skip, error");
    }
}

TEST(NameTables, EveryValueHasOneName) {
    for (const auto& entry : kComputeDtypeNames) {
        EXPECT_EQ(dtype_name(entry.value), entry.name);
        EXPECT_EQ(find_named(kComputeDtypeNames, entry.name), entry.value);
    }
    for (const auto& entry : kPoolingNames) {
        EXPECT_EQ(parse_pooling(to_string(entry.value)), entry.value);
    }
    for (const auto& entry : kLongPolicyNames) {
        EXPECT_EQ(parse_long_policy(to_string(entry.value)), entry.value);
    }
}

}  // namespace
}  // namespace embed
