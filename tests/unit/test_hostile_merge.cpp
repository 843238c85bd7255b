// Issue 16, items 10, 11 and 14: `embed merge` and `--resume` read files that anyone may have
// written. Every root attribute is range-checked, every dataset checked against the file's own
// settings, links of any kind refused, and every compared setting (one table) refuses a merge.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>
#include <sys/stat.h>

#include "base/hdf5.h"
#include "output/hdf5_writer.h"
#include "output/merge.h"
#include "output/output_parts.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::kExitBadInput;
using testing::local_model;
using testing::random_proteins;
using testing::run_embed;
using testing::TempDir;

// Its values are its index.
ProteinEmbedding protein(const std::string& id, uint64_t index, int64_t length, int64_t width,
                         int64_t layers = 1) {
    return testing::filled_protein(id, index, layers, length, width, static_cast<float>(index));
}

RunAttributes settings(int64_t shard, int64_t shards) {
    RunAttributes a;
    a.model = "esm2_t6_8M_UR50D";
    a.model_family = "ESM";
    a.model_format = "fair-esm";
    a.checkpoint_sha256 = "abc";
    a.layers = {6};
    a.embedding_dim = 4;
    a.max_length = 1022;
    a.groups = "per_residue,per_protein";
    a.input_digest = "digest";
    a.input_proteins = 2;
    a.input_records = 3;
    a.shard = shard;
    a.shards = shards;
    return a;
}

// Shard `shard` of two: input protein `shard` - 1, named p1 or p2, stored as `a` says (its
// groups, layers and storage), but `width` wide.
fs::path write_shard(const TempDir& dir, int64_t shard, const RunAttributes& a, int64_t width) {
    const fs::path path = dir / ("shard" + std::to_string(shard) + ".h5");
    const auto has = [&](const char* group) { return contains(a.groups, group); };
    Hdf5Writer writer(
        path, OutputGroups{has(kPerResidueGroup), has(kPerProteinGroup), false},
        StorageOptions{parse_storage_dtype(a.storage_dtype), static_cast<int>(a.compression)});
    writer.write(protein("p" + std::to_string(shard), static_cast<uint64_t>(shard - 1), 3, width,
                         a.stored_layers()));
    writer.finish(a);
    return path;
}

fs::path write_shard(const TempDir& dir, int64_t shard, const RunAttributes& a) {
    return write_shard(dir, shard, a, a.embedding_dim);
}

// Opens `path` for writing: the crafted changes below, made after the writer.
h5::Handle open_for_writing(const fs::path& path) {
    return h5::open_file(path.string(), H5F_ACC_RDWR);
}

std::string merge_error(const std::vector<fs::path>& shards, const fs::path& output) {
    try {
        merge_shards(shards, output, false, false);
    } catch (const std::invalid_argument& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("(not std::invalid_argument) ") + e.what();
    }
    return "(no error)";
}

// A value of `field` other than the one in `a`, and in its range.
void change(RunAttributes& a, const RunAttributeField& field) {
    std::visit(
        [&](auto member) {
            auto& value = a.*member;
            using Value = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<Value, std::string>) {
                if (field.allowed.empty()) {
                    value = value == "per_residue,per_protein" ? "per_residue" : value + "x";
                } else {
                    value = value == field.allowed[0] ? field.allowed[1] : field.allowed[0];
                }
            } else if constexpr (std::is_same_v<Value, int64_t>) {
                value = value + 1;
            } else {
                value.push_back(0);
            }
        },
        field.member);
}

TEST(RunAttributeFields, EveryFieldIsWrittenReadAndEitherComparedOrSaidWhyNot) {
    TempDir dir;
    RunAttributes written = settings(1, 2);
    for (const RunAttributeField& field : run_attribute_fields()) {
        EXPECT_NE(std::string(field.why), "") << field.name;
        if (!field.compared) {
            change(written, field);  // read must give back every field, not only compared ones
        }
    }
    {
        const h5::Handle file(
            H5Fcreate((dir / "a.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
            "create");
        written.write(file.id());
        H5O_info_t info{};
        ASSERT_GE(H5Oget_info(file.id(), &info), 0);
        EXPECT_EQ(info.num_attrs, run_attribute_fields().size()) << "one attribute per field";
    }
    const h5::Handle file = h5::open_file((dir / "a.h5").string());
    const RunAttributes read = RunAttributes::read(file.id());
    for (const RunAttributeField& field : run_attribute_fields()) {
        EXPECT_EQ(field_text(read, field), field_text(written, field)) << field.name;
    }
}

TEST(RunAttributeFields, ChangingEachComparedSettingIsADifferenceAndNoOtherIs) {
    const RunAttributes base = settings(1, 1);
    std::vector<std::string> compared;
    for (const RunAttributeField& field : run_attribute_fields()) {
        RunAttributes other = base;
        change(other, field);
        const std::vector<std::string> differences = base.differences(other);
        if (field.compared) {
            compared.push_back(field.name);
            ASSERT_EQ(differences.size(), 1u) << field.name;
            EXPECT_EQ(differences[0].rfind(std::string(field.name) + ": ", 0), 0u)
                << differences[0];
        } else {
            EXPECT_TRUE(differences.empty()) << field.name << " is informational";
        }
    }
    // The settings the issue found skipped: they must stay compared.
    for (const char* name : {"compression", "model_family", "embedding_dim"}) {
        EXPECT_NE(std::find(compared.begin(), compared.end(), name), compared.end()) << name;
    }
}

TEST(MergeShards, EachComparedSettingRefusesTheMerge) {
    for (const RunAttributeField& field : run_attribute_fields()) {
        if (!field.compared) {
            continue;
        }
        TempDir dir;
        RunAttributes other = settings(2, 2);
        change(other, field);
        const fs::path first = write_shard(dir, 1, settings(1, 2));
        const fs::path second = write_shard(dir, 2, other);
        const std::string error = merge_error({first, second}, dir / "out.h5");
        EXPECT_TRUE(contains(error, "shard2.h5 was written with other settings:\n  " +
                                        std::string(field.name) + ": "))
            << field.name << ": " << error;
        EXPECT_FALSE(fs::exists(dir / "out.h5"));
    }
}

TEST(MergeShards, RootIntegersOutOfRangeAreRefusedWhenRead) {
    TempDir dir;
    const fs::path path = write_shard(dir, 1, settings(1, 1));
    {
        const h5::Handle file = open_for_writing(path);
        h5::write_attribute(file.id(), "input_proteins", int64_t{-5});
    }
    const std::string error = testing::error_of([&] { read_run_attributes(path); });
    EXPECT_TRUE(contains(error, "attribute input_proteins is -5, outside 0..")) << error;
    EXPECT_FALSE(contains(error, "18446744073709551611")) << error;
}

TEST(MergeShards, NegativeOrHugeShardCountsAreRefusedWithoutAllocating) {
    for (const int64_t shards : {int64_t{-3}, int64_t{1} << 62}) {
        TempDir dir;
        const fs::path path = write_shard(dir, 1, settings(1, 1));
        {
            const h5::Handle file = open_for_writing(path);
            h5::write_attribute(file.id(), "shards", shards);
        }
        const std::string error = merge_error({path}, dir / "out.h5");
        EXPECT_TRUE(contains(error, "attribute shards is " + std::to_string(shards) + ", outside"))
            << error;
    }
    // Within the range, a count far above the files given costs nothing: the missing shard
    // is named.
    TempDir dir;
    const fs::path path = write_shard(dir, 1, settings(1, 50'000'000));
    const std::string error = merge_error({path}, dir / "out.h5");
    EXPECT_TRUE(contains(error, "shard 2 of 50000000 is missing")) << error;
}

TEST(MergeShards, AnIndexOutsideTheInputIsRefused) {
    TempDir dir;
    const fs::path first = write_shard(dir, 1, settings(1, 2));
    const fs::path second = dir / "shard2.h5";
    {
        Hdf5Writer writer(second, OutputGroups{});
        writer.write(protein("p2", 5, 3, 4));  // the input has 2 proteins
        writer.finish(settings(2, 2));
    }
    const std::string error = merge_error({first, second}, dir / "out.h5");
    EXPECT_TRUE(contains(error, "shard2.h5: /per_residue/p2: attribute index is 5, outside 0..1"))
        << error;
}

// With --long skip the indices of the proteins written are sparse, but below the count of
// records; and files that hold more proteins than the input are refused by count, not wrapped.
TEST(MergeShards, AnIndexPastTheRecordsIsRefusedWhenLongProteinsWereSkipped) {
    TempDir dir;
    RunAttributes skipping = settings(1, 2);
    skipping.long_policy = "skip";
    // settings() says 3 records, 2 proteins: one record was left out for its length
    const fs::path first = write_shard(dir, 1, skipping);
    skipping.shard = 2;
    const fs::path second = dir / "shard2.h5";
    {
        Hdf5Writer writer(second, OutputGroups{});
        writer.write(protein("p2", 7, 3, 4));
        writer.finish(skipping);
    }
    const std::string error = merge_error({first, second}, dir / "out.h5");
    EXPECT_TRUE(contains(error, "shard2.h5: /per_residue/p2: attribute index is 7, outside 0..2"))
        << error;

    fs::remove(second);
    {
        Hdf5Writer writer(second, OutputGroups{});
        writer.write(protein("p2", 1, 3, 4));
        writer.write(protein("p3", 2, 3, 4));
        writer.finish(skipping);
    }
    const std::string more = merge_error({first, second}, dir / "out.h5");
    EXPECT_TRUE(contains(more, "the files hold 3 proteins, more than the 2 of the input")) << more;
}

TEST(MergeShards, ADatasetOfTheWrongShapeOrStorageIsRefused) {
    TempDir dir;
    const fs::path first = write_shard(dir, 1, settings(1, 2));
    const fs::path narrow = write_shard(dir, 2, settings(2, 2), 3);
    EXPECT_TRUE(contains(merge_error({first, narrow}, dir / "out.h5"),
                         "shard2.h5: /per_residue/p2: shape (3, 3), where the root's settings "
                         "and the length 3 give (3, 4)"));

    // gzip datasets under a root that says uncompressed (what a --resume with another
    // --compress used to leave).
    TempDir other;
    const fs::path plain = write_shard(other, 1, settings(1, 2));
    const fs::path gzip = other / "shard2.h5";
    {
        Hdf5Writer writer(gzip, OutputGroups{}, StorageOptions{torch::kFloat32, 4});
        writer.write(protein("p2", 1, 3, 4));
        writer.finish(settings(2, 2));
    }
    const std::string error = merge_error({plain, gzip}, other / "out.h5");
    EXPECT_TRUE(contains(error,
                         "shard2.h5: /per_residue/p2: compressed, but the root's "
                         "compression is 0"))
        << error;
}

TEST(MergeShards, LinksOfAnyKindAreRefused) {
    for (const std::string kind : {"external", "soft"}) {
        TempDir dir;
        // A file the reader may read but the shards do not name: its data must not leak.
        const fs::path secret = dir / "secret.h5";
        {
            const h5::Handle file(
                H5Fcreate(secret.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                "create");
            const std::vector<float> data(12, 42.f);
            h5::write_float_dataset(file.id(), "data", {3, 4}, data.data());
        }
        const fs::path first = write_shard(dir, 1, settings(1, 2));
        const fs::path second = write_shard(dir, 2, settings(2, 2));
        {
            const h5::Handle file = open_for_writing(second);
            const h5::Handle group = h5::open_group(file.id(), "per_residue");
            const h5::Handle p2 = h5::open_dataset(group.id(), "p2");
            // The real dataset stays reachable under another name; p2 becomes a link.
            ASSERT_GE(H5Lmove(group.id(), "p2", group.id(), "kept", H5P_DEFAULT, H5P_DEFAULT), 0);
            if (kind == "external") {
                ASSERT_GE(H5Lcreate_external(secret.c_str(), "data", group.id(), "p2", H5P_DEFAULT,
                                             H5P_DEFAULT),
                          0);
            } else {
                ASSERT_GE(
                    H5Lcreate_soft("/per_residue/kept", group.id(), "p2", H5P_DEFAULT, H5P_DEFAULT),
                    0);
            }
            ASSERT_GE(H5Ldelete(group.id(), "kept", H5P_DEFAULT), 0);
        }
        const std::string error = merge_error({first, second}, dir / "out.h5");
        EXPECT_TRUE(contains(error, "shard2.h5: /per_residue/p2: 'p2' is " +
                                        std::string(kind == "external" ? "an external" : "a soft") +
                                        " link"))
            << kind << ": " << error;
        EXPECT_FALSE(fs::exists(dir / "out.h5"));
    }
}

TEST(MergeShards, AVirtualDatasetReadingAnotherFileIsRefused) {
    TempDir dir;
    const fs::path secret = dir / "secret.h5";
    {
        const h5::Handle file(H5Fcreate(secret.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                              H5Fclose, "create");
        const std::vector<float> data(12, 42.f);
        h5::write_float_dataset(file.id(), "data", {3, 4}, data.data());
    }
    const fs::path first = write_shard(dir, 1, settings(1, 2));
    const fs::path second = write_shard(dir, 2, settings(2, 2));
    {
        const h5::Handle file = open_for_writing(second);
        const h5::Handle group = h5::open_group(file.id(), "per_residue");
        const h5::Handle old = h5::open_dataset(group.id(), "p2");
        const std::vector<hsize_t> shape = {3, 4};
        const h5::Handle space(H5Screate_simple(2, shape.data(), nullptr), H5Sclose, "space");
        const h5::Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "properties");
        ASSERT_GE(H5Pset_virtual(properties.id(), space.id(), secret.c_str(), "data", space.id()),
                  0);
        const h5::Handle virtual_dataset(H5Dcreate2(group.id(), "v", H5T_IEEE_F32LE, space.id(),
                                                    H5P_DEFAULT, properties.id(), H5P_DEFAULT),
                                         H5Dclose, "virtual");
        for (const char* name : {"original_id", "description", "sequence_md5"}) {
            h5::write_attribute(virtual_dataset.id(), name, std::string("p2"));
        }
        h5::write_attribute(virtual_dataset.id(), "length", int64_t{3});
        h5::write_attribute(virtual_dataset.id(), "index", int64_t{1});
        ASSERT_GE(H5Ldelete(group.id(), "p2", H5P_DEFAULT), 0);
        ASSERT_GE(H5Lmove(group.id(), "v", group.id(), "p2", H5P_DEFAULT, H5P_DEFAULT), 0);
    }
    const std::string error = merge_error({first, second}, dir / "out.h5");
    EXPECT_TRUE(contains(error, "shard2.h5: /per_residue/p2: a virtual dataset")) << error;
}

// Found by tests/fuzz/fuzz_output_file.cpp: libhdf5 1.10.8 itself dies (SIGSEGV) reading this
// file's attributes. The merge and --resume must report it, not crash with it.
TEST(MergeShards, AFileLibhdf5CrashesOnIsReportedAsDamaged) {
    TempDir dir;
    const fs::path damaged = testing::data_file("damaged_output_crashes_libhdf5.h5");
    // AddressSanitizer stops the child at the bad copy before the fault, with status 1.
    const std::string expected =
        damaged.string() +
        (EMBED_UNDER_ASAN ? ": libhdf5 ended without an answer (exit status 1)"
                          : ": libhdf5 crashed (Segmentation fault)") +
        " reading the file; it is damaged";
    EXPECT_TRUE(contains(merge_error({damaged}, dir / "out.h5"), expected))
        << merge_error({damaged}, dir / "out.h5");
    EXPECT_TRUE(contains(testing::error_of([&] { stored_indices(damaged); }), expected));
    EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

// Found by fuzzing too: libhdf5 1.10.8 reads this one's global heap in an endless loop. The
// child reading it first ends at its CPU limit (10 s for a small file).
TEST(MergeShards, AFileLibhdf5LoopsOnIsReportedAsDamaged) {
    TempDir dir;
    const fs::path damaged = testing::data_file("output_libhdf5_loops_on.h5");
    const std::string error = merge_error({damaged}, dir / "out.h5");
    EXPECT_TRUE(contains(error, damaged.string() +
                                    ": libhdf5 ran past its limit of 10 CPU seconds reading the "
                                    "file; it is damaged"))
        << error;
    EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

// Also found by fuzzing: a chunk whose address lies past the end of the file. libhdf5 1.10.8
// crashed in H5Ocopy's cleanup after failing to read it (as after any failure to copy).
TEST(MergeShards, AChunkOutsideTheFileIsRefusedBeforeTheCopy) {
    TempDir dir;
    const fs::path damaged = testing::data_file("output_chunk_outside_file.h5");
    RunAttributes settings;
    {
        const h5::Handle file = h5::open_file(damaged.string());
        settings = RunAttributes::read(file.id());
    }
    const std::string expected =
        damaged.string() + ": /per_protein/a: chunk 0 lies outside the file";
    for (const std::string& error :
         {testing::error_of([&] {
              merge_files({damaged}, dir / "out.h5", settings, MergeOptions{false, &settings});
          }),
          testing::error_of([&] { read_run_attributes(damaged); }),
          testing::error_of([&] { stored_indices(damaged); })}) {
        EXPECT_TRUE(contains(error, expected)) << error;
    }
}

TEST(MergeShards, ADirectoryOrAFileOtherThanHdf5IsOneClearLine) {
    TempDir dir;
    fs::create_directory(dir / "shards");
    testing::write_file(dir / "text.h5", "not HDF5\n");
    const auto directory =
        run_embed("merge " + (dir / "shards").string() + " -o " + (dir / "o.h5").string());
    EXPECT_EQ(directory.status, kExitBadInput);
    EXPECT_TRUE(contains(directory.output, "shards: a directory, not an HDF5 file of embeddings"))
        << directory.output;
    EXPECT_EQ(std::count(directory.output.begin(), directory.output.end(), '\n'), 1)
        << directory.output;
    const auto text =
        run_embed("merge " + (dir / "text.h5").string() + " -o " + (dir / "o.h5").string());
    EXPECT_EQ(text.status, kExitBadInput);
    EXPECT_TRUE(contains(text.output, "text.h5: not an HDF5 file")) << text.output;
    EXPECT_EQ(std::count(text.output.begin(), text.output.end(), '\n'), 1) << text.output;
}

// End to end, the case the issue reproduced: parts saved without --compress, resumed with it.
TEST(ResumeAndMerge, AnotherCompressIsRefused) {
    TempDir dir;
    const std::string input = (fs::path(EMBED_SOURCE_DIR) / "examples/proteins.fasta").string() +
                              " -m " + testing::data_file("esm2_tiny_pytorch_bin").string();
    const fs::path earlier = dir / "earlier.h5";
    ASSERT_EQ(run_embed(input + " -o " + earlier.string()).status, 0);
    // A finished file holds what a part holds: the earlier run's saved proteins.
    const fs::path output = dir / "out.h5";
    fs::create_directory(OutputParts::directory_of(output));
    fs::copy_file(earlier, OutputParts::directory_of(output) / "part-000001.h5");
    const auto resumed = run_embed(input + " -o " + output.string() + " --resume --compress 4");
    EXPECT_EQ(resumed.status, kExitBadInput) << resumed.output;
    EXPECT_TRUE(contains(resumed.output, "compression: 4 vs 0")) << resumed.output;
    EXPECT_FALSE(fs::exists(output));

    std::string shards;
    for (int i = 1; i <= 2; ++i) {
        const fs::path shard = dir / ("shard" + std::to_string(i) + ".h5");
        const auto result = run_embed(input + " -o " + shard.string() + " --shard " +
                                      std::to_string(i) + "/2" + (i == 2 ? " --compress 4" : ""));
        ASSERT_EQ(result.status, 0) << result.output;
        shards += " " + shard.string();
    }
    const auto merged = run_embed("merge" + shards + " -o " + output.string());
    EXPECT_EQ(merged.status, kExitBadInput) << merged.output;
    EXPECT_TRUE(contains(merged.output, "compression: 0 vs 4")) << merged.output;
    EXPECT_FALSE(fs::exists(output));
}

// Issue 16, item 1: a full disk. A small tmpfs (root only: skipped otherwise).
class SmallDisk {
public:
    SmallDisk(const fs::path& path, const std::string& size) : path_(path) {
        fs::create_directories(path);
        mounted_ = std::system(("mount -t tmpfs -o size=" + size + " tmpfs " + path.string() +
                                " 2>/dev/null")
                                   .c_str()) == 0;
    }
    ~SmallDisk() {
        if (mounted_) {
            std::system(("umount " + path_.string()).c_str());
        }
    }
    SmallDisk(const SmallDisk&) = delete;
    SmallDisk& operator=(const SmallDisk&) = delete;
    bool mounted() const { return mounted_; }
    void resize(const std::string& size) const {
        ASSERT_EQ(std::system(("mount -o remount,size=" + size + " " + path_.string()).c_str()), 0);
    }

private:
    fs::path path_;
    bool mounted_ = false;
};

#define REQUIRE_MOUNTED(disk)                                                  \
    do {                                                                       \
        if (!(disk).mounted()) {                                               \
            GTEST_SKIP() << "needs root to mount a small tmpfs (a full disk)"; \
        }                                                                      \
    } while (false)

// Runs `scenario` in a child process (libhdf5 used to crash on a full disk, also at exit):
// it must end normally, with `scenario`'s error message containing every one of `expected`.
void expect_clean_failure(const std::function<void()>& scenario,
                          const std::vector<std::string>& expected) {
    EXPECT_EXIT(
        {
            std::string message = "(no error)";
            try {
                scenario();
            } catch (const std::exception& e) {
                message = e.what();
            }
            bool found = true;
            for (const std::string& part : expected) {
                found = found && message.find(part) != std::string::npos;
            }
            std::fprintf(stderr, "message: %s\n", message.c_str());
            std::exit(found ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "message: ");
}

TEST(DiskFull, APartThatDoesNotFitIsAnErrorNamingTheFile) {
    TempDir dir;
    const SmallDisk disk(dir / "disk", "512k");
    REQUIRE_MOUNTED(disk);
    const fs::path part = dir / "disk/part.h5";
    expect_clean_failure(
        [&] {
            Hdf5Writer writer(part, OutputGroups{});
            for (uint64_t i = 0; i < 1000; ++i) {
                writer.write(protein("p" + std::to_string(i), i, 100, 32));
            }
            writer.finish(settings(1, 1));
        },
        {part.string(), "No space left on device"});
}

TEST(DiskFull, AMergeThatDoesNotFitIsAnErrorNamingTheFile) {
    TempDir dir;
    const SmallDisk disk(dir / "disk", "512k");
    REQUIRE_MOUNTED(disk);
    RunAttributes a = settings(1, 1);
    a.input_proteins = 40;
    a.input_records = 40;
    a.embedding_dim = 32;
    const fs::path part = dir / "part.h5";
    {
        Hdf5Writer writer(part, OutputGroups{});
        for (uint64_t i = 0; i < 40; ++i) {
            writer.write(protein("p" + std::to_string(i), i, 100, 32));  // 12.8 kB each
        }
        writer.finish(a);
    }
    const fs::path merged = dir / "disk/merged.h5";
    expect_clean_failure(
        [&] {
            merge_files({part}, merged, a, MergeOptions{true, &a});
        },
        {merged.string(), "No space left on device"});
    fs::remove(merged);  // merge_files' callers write through an AtomicOutput, which removes it
    for (const bool bio : {false, true}) {
        const fs::path output = dir / (bio ? "disk/bio" : "disk/out.h5");
        expect_clean_failure([&] { merge_shards({part}, output, false, bio); },
                             {"No space left on device"});
        EXPECT_FALSE(fs::exists(output));
    }
    for (const auto& entry : fs::directory_iterator(dir / "disk")) {
        ADD_FAILURE() << entry.path() << " half-written";
    }
}

// The reproducer: 2,000 proteins, per protein only, into 2 MB.
TEST(DiskFull, ARunThatDoesNotFitStopsBeforeAndResumesOnceThereIsSpace) {
    TempDir dir;
    const SmallDisk disk(dir / "disk", "2m");
    REQUIRE_MOUNTED(disk);
    std::string fasta;
    std::mt19937 random(16);
    for (int i = 0; i < 2000; ++i) {
        fasta += ">p" + std::to_string(i) + "\n";
        for (int r = 0; r < 30 + static_cast<int>(random() % 170); ++r) {
            fasta += "ACDEFGHIKLMNPQRSTVWY"[random() % 20];
        }
        fasta += "\n";
    }
    testing::write_file(dir / "in.fasta", fasta);
    const fs::path output = dir / "disk/out.h5";
    const std::string command = (dir / "in.fasta").string() + " -o " + output.string() + " -m " +
                                testing::data_file("esm2_tiny_pytorch_bin").string() +
                                " --no-per-residue --threads 1";
    const auto full = run_embed(command);
    EXPECT_EQ(full.status, 1) << full.output;
    EXPECT_TRUE(contains(full.output, (dir / "disk").string() + ": no space left")) << full.output;
    EXPECT_FALSE(fs::exists(output));
    for (const auto& entry : fs::directory_iterator(dir / "disk")) {
        EXPECT_TRUE(fs::is_directory(entry.path()) && fs::is_empty(entry.path()))
            << entry.path() << " left behind";
    }
    disk.resize("16m");
    const auto resumed = run_embed(command + " --resume");
    EXPECT_EQ(resumed.status, 0) << resumed.output;
    const h5::Handle file = h5::open_file(output.string());
    EXPECT_EQ(h5::read_int_attribute(file.id(), "proteins"), 2000);
}

// The estimate logged before a run bounds what HDF5 writes (it counted the values alone: 354 KB
// for 1.9 MB written), without claiming several times too much; and once the output is in
// place, no block claimed for it is left past its end (ext4 keeps those a hole-punch misses).
TEST(DiskSpace, TheEstimateBoundsTheOutputAndNoClaimOutlivesTheRun) {
    TempDir dir;
    testing::write_file(dir / "in.fasta", random_proteins(500, 3));
    for (const std::string flags : {"--no-per-residue", "", "--no-per-residue --compress 4"}) {
        const fs::path out = dir / "out.h5";
        fs::remove(out);
        const auto result = run_embed((dir / "in.fasta").string() + " -o " + out.string() + " -m " +
                                      local_model() + " " + flags);
        ASSERT_EQ(result.status, 0) << flags << "\n" << result.output;
        const std::string marker = "expected output: ";
        const size_t at = result.output.find(marker);
        ASSERT_NE(at, std::string::npos) << result.output;
        char unit[8] = {};
        double estimate = 0;
        ASSERT_EQ(
            std::sscanf(result.output.c_str() + at + marker.size(), "%lf %7s", &estimate, unit), 2);
        estimate *= std::string(unit) == "MB" ? 1e6 : std::string(unit) == "KB" ? 1e3 : 1;
        struct stat written {};
        ASSERT_EQ(::stat(out.c_str(), &written), 0);
        const auto size = static_cast<double>(written.st_size);
        if (!contains(flags, "--compress")) {  // a compressed size cannot be known ahead
            EXPECT_GE(estimate, size) << flags;
            EXPECT_LE(estimate, 2.5 * size) << flags;
        }
        EXPECT_LE(static_cast<double>(written.st_blocks) * 512, size + (64 << 10)) << flags;
    }
}

}  // namespace
}  // namespace embed
