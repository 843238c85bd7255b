#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include "base/digest.h"
#include "base/file.h"
#include "base/fingerprint.h"
#include "base/isolated.h"
#include "base/json.h"
#include "encode/runtime.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::error_of;
using testing::TempDir;
using testing::write_file;

int64_t resident_megabytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE) / (1 << 20);
}

// Under embed's allocator settings a freed block stays resident until return_freed_memory().
TEST(Runtime, FreedMemoryStaysForReuseUntilReturned) {
    if (EMBED_UNDER_ASAN) {
        GTEST_SKIP() << "AddressSanitizer's allocator keeps freed memory in quarantine";
    }
    keep_freed_memory_for_reuse();
    constexpr size_t kBytes = size_t{256} << 20;
    auto* block = static_cast<char*>(std::malloc(kBytes));
    ASSERT_NE(block, nullptr);
    std::memset(block, 1, kBytes);
    const int64_t touched = resident_megabytes();
    std::free(block);
    EXPECT_GT(resident_megabytes(), touched - 64) << "freed at once: kept for reuse no more";
    return_freed_memory();
    EXPECT_LT(resident_megabytes(), touched - 192);
}

TEST(Json, ParsesNestedDocuments) {
    const nlohmann::json v =
        json::parse(R"({"a": 1, "b": [true, null, "x\u00e9\n"], "c": {"d": -2.5e1}, "e": NaN})");
    const nlohmann::json::array_t& b = json::as_array(json::at(v, "b"));
    EXPECT_EQ(json::as_int(json::at(v, "a")), 1);
    EXPECT_TRUE(json::as_bool(b[0]));
    EXPECT_TRUE(b[1].is_null());
    EXPECT_EQ(json::as_string(b[2]), "x\xc3\xa9\n");
    EXPECT_DOUBLE_EQ(json::as_number(json::at(json::at(v, "c"), "d")), -25.0);
    EXPECT_TRUE(std::isnan(json::as_number(json::at(v, "e"))));
    EXPECT_EQ(json::find(v, "missing"), nullptr);
}

TEST(Json, SurrogatePairsAndUnpairedHalves) {
    EXPECT_EQ(json::as_string(json::parse(R"("\ud83d\ude00")")), "\xF0\x9F\x98\x80");
    // A high surrogate followed by another escape: each stands alone (it used to be combined
    // with whatever followed into a code point beyond Unicode).
    EXPECT_EQ(json::as_string(json::parse(R"("\ud800\u0041")")),
              "\xED\xA0\x80"
              "A");
    EXPECT_EQ(json::as_string(json::parse(R"("\ud800x")")),
              "\xED\xA0\x80"
              "x");
}

TEST(Json, ErrorsSayWhereAndWhat) {
    for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{\"a\":1}}"}) {
        EXPECT_THROW(json::parse(bad), std::runtime_error) << bad;
    }
    EXPECT_THROW(json::parse(std::string(100000, '[')), std::runtime_error);
    try {
        json::at(json::parse(R"({"a": 1})"), "b");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("\"b\""), std::string::npos);
    }
    EXPECT_THROW(json::as_int(json::parse("1.5")), std::runtime_error);
    EXPECT_THROW(json::as_number(json::parse("\"s\"")), std::runtime_error);
}

// What Python's json module writes beyond the standard (nlohmann refuses it) reads as Python
// reads it, and the mark that carries it through nlohmann stays invisible in the values.
TEST(Json, PythonExtensionsAndTheirMark) {
    const nlohmann::json v =
        json::parse(R"({"i": [Infinity, -Infinity], "\udc00": "\udbff\udfff\ud800", "m": ")"
                    "\xF4\x8F\xBF\xBF"
                    R"(NaN"})");
    const nlohmann::json::array_t& infinities = json::as_array(json::at(v, "i"));
    EXPECT_EQ(json::as_number(infinities[0]), HUGE_VAL);
    EXPECT_EQ(json::as_number(infinities[1]), -HUGE_VAL);
    EXPECT_EQ(json::as_string(json::at(v, "\xED\xB0\x80")),
              "\xF4\x8F\xBF\xBF"
              "\xED\xA0\x80");
    EXPECT_EQ(json::as_string(json::at(v, "m")), "\xF4\x8F\xBF\xBFNaN");
    EXPECT_THROW(json::parse("{NaN: 1}"), std::runtime_error);
    EXPECT_THROW(json::parse("1e999"), std::runtime_error);
}

// Hostile nesting is refused at a fixed depth, with a message rather than the library's
// exception; real configurations nest a few levels.
TEST(Json, NestingDeeperThanTheLimitIsAnError) {
    const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    EXPECT_NO_THROW(json::parse(nested(json::kMaxDepth + 1)));
    EXPECT_NE(error_of([&] {
                  json::parse(nested(json::kMaxDepth + 2));
              }).find("nesting deeper than " + std::to_string(json::kMaxDepth)),
              std::string::npos);
}

TEST(Sha256, KnownVectors) {
    Digest empty(Digest::Algorithm::sha256);
    EXPECT_EQ(empty.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    Digest abc(Digest::Algorithm::sha256);
    abc.update("abc", 3);
    EXPECT_EQ(abc.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // One million 'a', fed in uneven pieces to cross block boundaries.
    Digest million(Digest::Algorithm::sha256);
    const std::string chunk(997, 'a');
    size_t fed = 0;
    while (fed < 1000000) {
        const size_t n = std::min(chunk.size(), 1000000 - fed);
        million.update(chunk.data(), n);
        fed += n;
    }
    EXPECT_EQ(million.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Md5, KnownVectors) {
    const std::pair<std::string, std::string> vectors[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {std::string(1000, 'a'), "cabe45dcc9ae5b66ba86600cca6b8ba8"},
    };
    for (const auto& [text, digest] : vectors) {
        Digest md5(Digest::Algorithm::md5);
        md5.update(text.data(), text.size());
        EXPECT_EQ(md5.hex(), digest) << text.size() << " bytes";
        EXPECT_EQ(md5_hex(text), digest) << text.size() << " bytes";
    }
}

TEST(Sha256, FilesAreHashedAsOneStream) {
    TempDir dir;
    write_file(dir / "a", "a");
    write_file(dir / "bc", "bc");
    EXPECT_EQ(sha256_files({dir / "a", dir / "bc"}),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_THROW(sha256_files({dir / "missing"}), std::runtime_error);
}

TEST(AtomicOutput, AppearsOnlyOnCommitAndNeverTouchesTheOldFile) {
    TempDir dir;
    const auto target = dir / "out.h5";
    write_file(target, "old");
    {
        AtomicOutput output(target);
        write_file(output.temporary_path(), "half-written");
    }  // abandoned: the old file stays, the temporary goes
    std::ifstream old(target);
    std::string content;
    old >> content;
    EXPECT_EQ(content, "old");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                            std::filesystem::directory_iterator()),
              1);
    {
        AtomicOutput output(target);
        write_file(output.temporary_path(), "new");
        output.commit();
    }
    std::ifstream fresh(target);
    fresh >> content;
    EXPECT_EQ(content, "new");
}

TEST(AtomicOutput, MissingDirectoryIsAnError) {
    EXPECT_THROW(AtomicOutput("/nonexistent/dir/out.h5"), std::runtime_error);
}

TEST(ReadOnlyFile, ShortReadsNameTheFile) {
    TempDir dir;
    write_file(dir / "f", "12345");
    const auto file = ReadOnlyFile::open(dir / "f");
    char buffer[8];
    file->read_at(1, buffer, 4);
    EXPECT_EQ(std::string(buffer, 4), "2345");
    try {
        file->read_at(3, buffer, 4);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
    }
}

TEST(ReadOnlyFile, MappingsAreCopyOnWriteAndGiveTheirPagesBack) {
    TempDir dir;
    const std::string text(3 * 4096, 'a');
    write_file(dir / "f", text);
    const auto file = ReadOnlyFile::open(dir / "f");
    char* mapping = file->mapping();
    ASSERT_NE(mapping, nullptr);
    EXPECT_EQ(file->mapping(), mapping);  // mapped once
    mapping[4096] = 'b';
    EXPECT_EQ(read_text_file(dir / "f"), text);  // the change stays in the process
    file->release(4000, 2 * 4096);               // only the wholly covered second page
    EXPECT_EQ(mapping[4096], 'a');
    mapping[100] = 'c';
    file->release(0, 4000);  // no whole page: nothing given back
    EXPECT_EQ(mapping[100], 'c');
}

TEST(Isolated, ReturnsWhatTheChildReturns) {
    EXPECT_EQ(run_isolated([] { return std::string("answer\0with a zero", 18); }),
              std::string("answer\0with a zero", 18));
    EXPECT_EQ(run_isolated([] { return std::string(1 << 20, 'x'); }).size(), size_t{1} << 20);
}

TEST(Isolated, TheChildsErrorsAndCrashesAreErrorsHere) {
    EXPECT_EQ(error_of([] {
                  run_isolated([]() -> std::string { throw std::runtime_error("x.h5: bad"); });
              }),
              "x.h5: bad");
    EXPECT_THROW(run_isolated([]() -> std::string { std::abort(); }), ChildCrashed);
    EXPECT_EQ(error_of([] { run_isolated([]() -> std::string { std::abort(); }); }),
              "crashed (Aborted)");
    EXPECT_EQ(error_of([] { run_isolated([]() -> std::string { ::_exit(3); }); }),
              "ended without an answer (exit status 3)");
}

// libhdf5 1.10.8 loops forever on some damaged files (tests/data/output_libhdf5_loops_on.h5).
TEST(Isolated, AChildThatLoopsEndsAtItsCpuLimit) {
    volatile bool forever = true;
    EXPECT_EQ(error_of([&] {
                  run_isolated(
                      [&]() -> std::string {
                          while (forever) {
                          }
                          return "";
                      },
                      1);
              }),
              "ran past its limit of 1 CPU seconds");
    EXPECT_EQ(cpu_seconds_to_read(0), 10u);
    EXPECT_EQ(cpu_seconds_to_read(uint64_t{1} << 30), 10u + 1024u);
}

TEST(Fingerprint, MapKeepsTheFirstValueThroughGrowth) {
    FingerprintMap map;
    for (uint64_t i = 0; i < 10000; ++i) {
        EXPECT_TRUE(map.emplace(fingerprint("protein" + std::to_string(i)), i).second);
    }
    EXPECT_EQ(map.size(), 10000u);
    for (uint64_t i = 0; i < 10000; i += 997) {
        EXPECT_EQ(map.emplace(fingerprint("protein" + std::to_string(i)), 0),
                  std::make_pair(i, false));
    }
    EXPECT_FALSE(fingerprint("MK") == fingerprint("KM"));
    EXPECT_FALSE(fingerprint("") == fingerprint(std::string(1, '\0')));
}

TEST(Fingerprint, ReservedAndFoundKeysStayPut) {
    FingerprintMap map;
    EXPECT_EQ(map.find(fingerprint("absent")), nullptr) << "an empty map";
    map.emplace(fingerprint("before"), 7);
    map.reserve(5000);  // keeps what it holds
    for (uint64_t i = 0; i < 5000; ++i) {
        map.emplace(fingerprint("p" + std::to_string(i)), i);
    }
    EXPECT_EQ(map.size(), 5001u);
    ASSERT_NE(map.find(fingerprint("before")), nullptr);
    EXPECT_EQ(*map.find(fingerprint("before")), 7u);
    ASSERT_NE(map.find(fingerprint("p4321")), nullptr);
    EXPECT_EQ(*map.find(fingerprint("p4321")), 4321u);
    EXPECT_EQ(map.find(fingerprint("p5000")), nullptr);
}

}  // namespace
}  // namespace embed
