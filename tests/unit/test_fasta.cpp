#include <zlib.h>

#include "input/fasta.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::TempDir;
using testing::write_file;

std::vector<FastaRecord> parse(const std::string& text) {
    TempDir dir;
    write_file(dir / "in.fasta", text);
    return read_fasta((dir / "in.fasta").string());
}

// The error a reader raises for `text`, which must have exactly one bad record.
InputError first_error(const std::string& text) {
    TempDir dir;
    write_file(dir / "in.fasta", text);
    FastaReader reader((dir / "in.fasta").string());
    try {
        while (reader.next()) {
        }
    } catch (const InputError& e) {
        return e;
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return InputError("", 0, "", "");
}

TEST(Fasta, MultiLineRecordsWithDescriptions) {
    const auto records = parse(">sp|P1|A first protein\nMKT\nLLV\n>B\nAC\n");
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].id, "sp|P1|A");
    EXPECT_EQ(records[0].description, "first protein");
    EXPECT_EQ(records[0].residues, "MKTLLV");
    EXPECT_EQ(records[0].header_line, 1u);
    EXPECT_EQ(records[1].id, "B");
    EXPECT_EQ(records[1].description, "");
    EXPECT_EQ(records[1].residues, "AC");
    EXPECT_EQ(records[1].header_line, 4u);
}

TEST(Fasta, BlankLinesCrlfAndInnerWhitespace) {
    const auto records = parse("\r\n\n>A  some\tdesc \r\nMK T\r\n\r\nLL\r\n\n>B\r\nQ\r\n");
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].description, "some\tdesc");
    EXPECT_EQ(records[0].residues, "MKTLL");
    EXPECT_EQ(records[1].residues, "Q");
}

TEST(Fasta, TrailingStopAndLowercase) {
    const auto records = parse(">A\nmktAA*\n>B\nQQ\n");
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].residues, "MKTAA");
    EXPECT_EQ(records[0].lowercase, 3u);
    EXPECT_EQ(records[1].lowercase, 0u);
}

TEST(Fasta, Utf8ByteOrderMarkIsIgnored) {
    const auto records = parse("\xEF\xBB\xBF>A\r\nMK\r\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].id, "A");
}

TEST(Fasta, LastLineWithoutNewline) {
    const auto records = parse(">A\nMK\nTL");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].residues, "MKTL");
}

TEST(Fasta, LineOfResidue) {
    const auto records = parse(">A\nMKT\n\nLLV\nQ\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].line_of_residue(0), 2u);
    EXPECT_EQ(records[0].line_of_residue(2), 2u);
    EXPECT_EQ(records[0].line_of_residue(3), 4u);
    EXPECT_EQ(records[0].line_of_residue(6), 5u);
}

TEST(Fasta, GzipInput) {
    TempDir dir;
    const std::string path = (dir / "in.fasta.gz").string();
    gzFile gz = gzopen(path.c_str(), "wb");
    const std::string text = ">A desc\nMKT\n>B\nLL\n";
    gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
    gzclose(gz);
    const auto records = read_fasta(path);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].residues, "MKT");
    EXPECT_EQ(records[1].residues, "LL");
}

TEST(Fasta, EmptyFileHasNoRecords) {
    EXPECT_TRUE(parse("").empty());
}

TEST(Fasta, MissingFileNamesIt) {
    try {
        read_fasta("/nonexistent/in.fasta");
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/in.fasta"), std::string::npos);
    }
}

TEST(Fasta, TextBeforeFirstHeader) {
    const InputError e = first_error("hello\n>A\nMK\n");
    EXPECT_EQ(e.line(), 1u);
    EXPECT_NE(e.problem().find("before the first"), std::string::npos);
}

TEST(Fasta, NoHeaderAtAll) {
    const InputError e = first_error("MKTLLV\n");
    EXPECT_NE(e.problem().find("no '>' header"), std::string::npos);
}

TEST(Fasta, HeaderWithoutSequence) {
    const InputError e = first_error(">A\nMK\n>B desc\n>C\nLL\n");
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.record_id(), "B");
    EXPECT_EQ(e.problem(), "header without a sequence");
    EXPECT_EQ(std::string(e.what()), e.file() + ":3: record 'B': header without a sequence");
}

TEST(Fasta, HeaderWithoutSequenceAtEnd) {
    const InputError e = first_error(">A\nMK\n>B\n\n");
    EXPECT_EQ(e.record_id(), "B");
    EXPECT_EQ(e.line(), 3u);
}

TEST(Fasta, EmptySequenceAfterStop) {
    const InputError e = first_error(">A\n*\n");
    EXPECT_EQ(e.problem(), "empty sequence");
}

TEST(Fasta, HeaderWithoutId) {
    for (const char* header : {">", ">  \t"}) {
        const InputError e = first_error(">A\nMK\n" + std::string(header) + "\nLL\n");
        EXPECT_EQ(e.line(), 3u);
        EXPECT_EQ(e.problem(), "header without an id");
    }
}

TEST(Fasta, IdIsTheFirstWordAfterTheMarker) {
    // As Biopython reads it: leading blanks after '>' do not make an empty id.
    const auto records = parse(">  P1 some protein\nMK\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].id, "P1");
    EXPECT_EQ(records[0].description, "some protein");
}

TEST(Fasta, ReaderContinuesAfterABadRecord) {
    TempDir dir;
    write_file(dir / "in.fasta", ">A\n>B\nMK\n");
    FastaReader reader((dir / "in.fasta").string());
    EXPECT_THROW(reader.next(), InputError);
    const auto b = reader.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->id, "B");
    EXPECT_FALSE(reader.next().has_value());
}

TEST(Fasta, InvalidCharactersAreKeptForTheModelToJudge) {
    const auto records = parse(">A\nMK1J\n");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].residues, "MK1J");
}

}  // namespace
}  // namespace embed
