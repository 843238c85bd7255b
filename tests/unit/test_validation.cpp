#include "input/validation.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::contains;

// Upper-case letters only, standing in for a model family's alphabet.
const Alphabet kLetters{"TEST", "A to Z", [](std::string_view residues) {
                            for (size_t i = 0; i < residues.size(); ++i) {
                                if (residues[i] < 'A' || residues[i] > 'Z') {
                                    return i;
                                }
                            }
                            return std::string_view::npos;
                        }};

// Every protein a reading of `path` accepts, as a run reads them.
std::vector<Protein> accepted_in(const std::filesystem::path& path, InvalidRecords& invalid) {
    ProteinReader reader(path.string(), "in.fasta", kLetters, invalid);
    std::vector<Protein> proteins;
    while (std::optional<Protein> p = reader.next()) {
        proteins.push_back(std::move(*p));
    }
    return proteins;
}

std::vector<Protein> accepted(const std::string& fasta, InvalidRecords& invalid) {
    testing::TempDir dir;
    testing::write_file(dir / "in.fasta", fasta);
    return accepted_in(dir / "in.fasta", invalid);
}

std::string rejection(const std::string& fasta) {
    InvalidRecords invalid(false);
    try {
        accepted(fasta, invalid);
    } catch (const InputError& e) {
        return e.what();
    }
    return "(accepted)";
}

TEST(Validation, ResiduesOutsideTheAlphabetAreNamedWithTheirPlace) {
    EXPECT_EQ(rejection(">a\nMKT\n>b desc\nMKTL\nAA1A\n"),
              "in.fasta:3: record 'b': residue '1' at position 7 (line 5) is not in the TEST "
              "alphabet (A to Z)");
    EXPECT_TRUE(contains(rejection(">a\nMK\x01T\n"), "residue byte 0x01 at position 3"));
}

TEST(Validation, DuplicateIdsAndKeyCollisions) {
    EXPECT_EQ(rejection(">a\nMK\n>a\nLL\n"),
              "in.fasta:3: record 'a': duplicate id; first seen at line 1");
    EXPECT_EQ(rejection(">x/y\nMK\n>x_y\nLL\n"),
              "in.fasta:3: record 'x_y': its output key 'x_y' ('/' becomes '_') collides with "
              "the record at line 1");
    EXPECT_TRUE(contains(rejection(">.\nMK\n"), "cannot name an HDF5 dataset"));
    // Both ids renamed: the same id, or two ids that share a key.
    EXPECT_EQ(rejection(">x/y\nMK\n>x/y\nLL\n"),
              "in.fasta:3: record 'x/y': duplicate id; first seen at line 1");
    EXPECT_EQ(rejection(">x/y_z\nMK\n>x_y/z\nLL\n"),
              "in.fasta:3: record 'x_y/z': its output key 'x_y_z' ('/' becomes '_') collides "
              "with the record at line 1");
    EXPECT_EQ(rejection(">x_y\nMK\n>x/y\nLL\n"),
              "in.fasta:3: record 'x/y': its output key 'x_y' ('/' becomes '_') collides with "
              "the record at line 1");
}

TEST(Validation, SkippingKeepsTheRestInOrder) {
    InvalidRecords invalid(true);
    const auto proteins = accepted(">a\nMK\n>b\nM1\n>a\nLL\n>c/d\nQQ\n", invalid);
    ASSERT_EQ(proteins.size(), 2u);
    EXPECT_EQ(proteins[0].record.id, "a");
    EXPECT_EQ(proteins[1].key, "c_d");
    EXPECT_EQ(proteins[1].length, 2);
    EXPECT_EQ(proteins[1].index, 1u) << "numbered among the accepted proteins";
    EXPECT_EQ(invalid.count(), 2u);
}

TEST(Validation, MalformedRecordsAreSkippedOnlyWhenAsked) {
    InvalidRecords strict(false);
    EXPECT_THROW(accepted(">a\n>b\nMK\n", strict), InputError);
    InvalidRecords lenient(true);
    const auto kept = accepted(">a\n>b\nMK\n", lenient);
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].record.id, "b");
    EXPECT_EQ(lenient.count(), 1u);
}

TEST(Validation, TruncatedGzipIsAnErrorEvenWhenSkipping) {
    testing::TempDir dir;
    std::string fasta;
    for (int i = 0; i < 2000; ++i) {
        fasta += ">p" + std::to_string(i) + "\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n";
    }
    testing::write_file(dir / "in.fasta", fasta);
    ASSERT_EQ(std::system(("gzip -c " + (dir / "in.fasta").string() + " | head -c 3000 > " +
                           (dir / "cut.fasta.gz").string())
                              .c_str()),
              0);
    InvalidRecords lenient(true);
    try {
        accepted_in(dir / "cut.fasta.gz", lenient);
        FAIL() << "a truncated gzip file must not read as a shorter input";
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(contains(e.what(), "truncated or corrupt gzip")) << e.what();
        EXPECT_FALSE(dynamic_cast<const InputError*>(&e) != nullptr);
    }
}

TEST(Validation, LongProteinsAreChunkedTruncatedSkippedOrRejected) {
    InvalidRecords invalid(false);
    const auto proteins = accepted(">a\nMKTLL\n>b\nMK\n", invalid);
    const auto applied = [&](LongPolicy policy, InvalidRecords& records) {
        LengthLimit limit("in.fasta", 3, policy, records);
        std::vector<Protein> kept;
        for (Protein p : proteins) {
            if (limit.apply(p)) {
                kept.push_back(std::move(p));
            }
        }
        return kept;
    };
    const auto chunked = applied(LongPolicy::chunk, invalid);
    ASSERT_EQ(chunked.size(), 2u);
    EXPECT_EQ(chunked[0].length, 5) << "chunking embeds every residue";

    const auto truncated = applied(LongPolicy::truncate, invalid);
    ASSERT_EQ(truncated.size(), 2u);
    EXPECT_EQ(truncated[0].length, 3);
    EXPECT_EQ(truncated[0].record.residues, "MKTLL") << "the record keeps its full sequence";
    EXPECT_EQ(truncated[1].length, 2);

    const auto skipped = applied(LongPolicy::skip, invalid);
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].record.id, "b");
    try {
        applied(LongPolicy::error, invalid);
        FAIL();
    } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "in.fasta:1: record 'a': 5 residues is longer than --max-length 3 (--long chunk "
                  "embeds it in overlapping windows, --long truncate the first 3)");
    }
    InvalidRecords skipping(true);
    EXPECT_EQ(applied(LongPolicy::error, skipping).size(), 1u);
    EXPECT_EQ(skipping.count(), 1u);
    EXPECT_EQ(parse_long_policy("skip"), LongPolicy::skip);
    EXPECT_THROW(parse_long_policy("drop"), std::invalid_argument);
}

TEST(Validation, ProteinReaderStreamsAcceptedProteins) {
    testing::TempDir dir;
    testing::write_file(dir / "in.fasta", ">a\nmk\n>b\nM1\n>c\nLL\n");
    InvalidRecords invalid(true);
    ProteinReader reader((dir / "in.fasta").string(), "in.fasta", kLetters, invalid);
    std::vector<std::string> keys;
    while (const std::optional<Protein> p = reader.next()) {
        keys.push_back(p->key + std::to_string(p->index));
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"a0", "c1"}));
    EXPECT_EQ(reader.lowercase(), 2u);
    EXPECT_EQ(invalid.count(), 1u);
}

TEST(Validation, ASecondReadingRejectsWhatTheFirstDidWithoutItsTables) {
    testing::TempDir dir;
    testing::write_file(dir / "in.fasta",
                        ">a\nMK\n>b\nM1\n>a\nLL\n>c/d\nQQ\n>c_d\nKK\n>e\nRR\n>c/d\nWW\n");
    const std::string path = (dir / "in.fasta").string();
    const auto read = [](ProteinReader& reader) {
        std::vector<std::string> proteins;
        while (const std::optional<Protein> p = reader.next()) {
            proteins.push_back(p->key + ":" + p->record.residues + ":" + std::to_string(p->index));
        }
        return proteins;
    };
    InvalidRecords first_invalid(true);
    ProteinReader first(path, "in.fasta", kLetters, first_invalid);
    const std::vector<std::string> proteins = read(first);
    EXPECT_EQ(proteins, (std::vector<std::string>{"a:MK:0", "c_d:QQ:1", "e:RR:2"}));
    EXPECT_EQ(first.repeats(), (RecordChecker::Repeats{5, 9, 13}));

    InvalidRecords second_invalid(true, true);
    ProteinReader second(path, "in.fasta", kLetters, second_invalid, first.repeats());
    EXPECT_EQ(read(second), proteins);
    EXPECT_EQ(second_invalid.count(), first_invalid.count());
}

}  // namespace
}  // namespace embed
