#include <cmath>
#include <fstream>

#include "base/file.h"
#include "base/hdf5.h"
#include "checkpoint/hdf5_weights.h"
#include "checkpoint/pickle.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/state_dict.h"
#include "checkpoint/torch_file.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::contains;
using testing::data_file;
using testing::error_of;
using testing::TempDir;
using testing::write_file;

// The namespace tests/data/make_fixtures.py pickles in every file.
void expect_config(const pickle::Value& config) {
    EXPECT_EQ(config.kind_name(), "argparse.Namespace");
    EXPECT_EQ(config.member("encoder_layers")->as_int(), 2);
    EXPECT_DOUBLE_EQ(config.member("dropout")->as_double(), 0.1);
    EXPECT_EQ(config.member("arch")->as_string(), "esm2");
    EXPECT_TRUE(config.member("token_dropout")->as_bool());
    EXPECT_TRUE(config.member("nothing")->is_none());
    const auto& layers = config.member("layers")->as_list();
    ASSERT_EQ(layers.items.size(), 3u);
    EXPECT_EQ(layers.items[2].as_int(), 3);
    const auto& pair = config.member("pair")->as_list();
    EXPECT_EQ(pair.kind, pickle::List::Kind::tuple);
    EXPECT_EQ(pair.items[1].as_string(), "five");
    EXPECT_EQ(config.member("nested")->member("a")->as_int(), -7);
    EXPECT_DOUBLE_EQ(config.member("nested")->member("b")->as_list().items[0].as_double(), 1.5);
    EXPECT_DOUBLE_EQ(config.member("big")->as_double(), std::ldexp(1.0, 70));
    EXPECT_EQ(config.member("negative")->as_int(), -(int64_t{1} << 40));
    EXPECT_EQ(config.member("raw")->get_if<pickle::Bytes>()->data, std::string("\x00\xff", 2));
    EXPECT_EQ(config.member("choices")->as_list().items[0].as_string(), "x");
    EXPECT_EQ(config.member("text")->as_string(), "gr\xc3\xbc\xc3\x9f");
    EXPECT_EQ(config.member("absent"), nullptr);
}

class PickleProtocol : public ::testing::TestWithParam<int> {};

TEST_P(PickleProtocol, ReadsWhatPythonWrote) {
    const auto path = data_file("pickle_protocol" + std::to_string(GetParam()) + ".pkl");
    const std::string bytes = read_text_file(path);
    pickle::Document doc;
    pickle::unpickle(bytes, pickle::Hooks{}, path.string(), doc);
    expect_config(*doc.root.member("config"));
    const pickle::Dict& ordered = doc.root.member("ordered")->as_dict();
    ASSERT_EQ(ordered.items.size(), 2u);
    EXPECT_EQ(ordered.items[0].first.as_string(), "first");
    EXPECT_EQ(ordered.items[1].second.as_int(), 2);
    const auto& shared = doc.root.member("shared")->as_list().items;
    ASSERT_EQ(shared.size(), 2u);
    EXPECT_EQ(&shared[0].as_list(), &shared[1].as_list()) << "memo must share the list";
}

INSTANTIATE_TEST_SUITE_P(AllProtocols, PickleProtocol, ::testing::Range(0, 6));

TEST(Pickle, MalformedStreamsAreErrorsNotCrashes) {
    const std::string good = read_text_file(data_file("pickle_protocol2.pkl"));
    for (size_t cut = 0; cut < good.size(); ++cut) {
        pickle::Document doc;
        EXPECT_THROW(pickle::unpickle(good.substr(0, cut), pickle::Hooks{}, "cut", doc),
                     std::runtime_error)
            << "cut at " << cut;
    }
    pickle::Document doc;
    EXPECT_TRUE(contains(error_of([&] { pickle::unpickle("\x80\x02\xff", {}, "x", doc); }),
                         "unknown opcode 0xff"));
    EXPECT_TRUE(contains(error_of([&] { pickle::unpickle("0.", {}, "x", doc); }), "underflow"));
    EXPECT_TRUE(contains(error_of([&] { pickle::unpickle("h\x05.", {}, "x", doc); }), "memo"));
}

// Found by fuzzing: a damaged .pt whose persistent id was a dict failed with "pickle: expected
// a list or tuple, found dict", naming neither the file nor the place.
TEST(Pickle, ErrorsOfTheHooksNameTheSourceAndThePlace) {
    pickle::Hooks hooks;
    hooks.persistent_load = [](const pickle::Value& pid) { return pid.as_list().items[0]; };
    pickle::Document doc;
    const std::string message =
        error_of([&] { pickle::unpickle("\x80\x02}Q.", hooks, "model.pt", doc); });
    EXPECT_TRUE(contains(message, "model.pt: pickle error at byte 3: ")) << message;
    EXPECT_TRUE(contains(message, "expected a list or tuple, found dict")) << message;
}

// A stream that copies one long string many times (memo GETs, DUP) used to allocate every copy:
// a 1 MB file could ask for a terabyte.
TEST(Pickle, CopiesOfItsOwnValuesAreBounded) {
    const std::string long_text(1 << 20, 'x');
    const std::string length = {0, 0, 0x10, 0};  // 2^20, little-endian
    const std::string stored = "\x80\x02(X" + length + long_text + std::string("q\x00", 2);
    const std::string gets = [] {
        std::string out;
        for (int i = 0; i < 1000; ++i) {
            out += std::string("h\x00", 2);
        }
        return out;
    }();
    const std::string dups = std::string(1000, '2');
    for (const std::string& stream : {stored + gets + "l.", stored + dups + "l."}) {
        pickle::Document doc;
        const std::string message =
            error_of([&] { pickle::unpickle(stream, pickle::Hooks{}, "big.pkl", doc); });
        EXPECT_TRUE(contains(message, "big.pkl: pickle error at byte")) << message;
        EXPECT_TRUE(contains(message, "copies its own values")) << message;
    }
    // Real pickles copy little: memoised names a few times over.
    pickle::Document doc;
    pickle::unpickle(stored + std::string(10, '2') + "l.", pickle::Hooks{}, "fine.pkl", doc);
    EXPECT_EQ(doc.root.as_list().items.size(), 11u);
}

class TorchFileProtocol : public ::testing::TestWithParam<int> {};

TEST_P(TorchFileProtocol, TensorsOfEveryKind) {
    const TorchFile file(data_file("tensors_protocol" + std::to_string(GetParam()) + ".pt"));
    expect_config(*file.root().member("args"));
    const StateDict tensors = file.state_dict(*file.root().member("model"));
    const torch::Tensor base = torch::arange(12, torch::kFloat32).view({3, 4});

    EXPECT_TRUE(torch::equal(tensors.at("float32").read(), base));
    EXPECT_EQ(tensors.at("float16").dtype(), torch::kFloat16);
    EXPECT_TRUE(torch::equal(tensors.at("float16").read().to(torch::kFloat32), base));
    EXPECT_EQ(tensors.at("bfloat16").dtype(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(tensors.at("bfloat16").read().to(torch::kFloat32), base));
    EXPECT_TRUE(torch::equal(tensors.at("int64").read(), torch::arange(5)));
    EXPECT_TRUE(torch::equal(tensors.at("transposed").read(), base.t()));
    EXPECT_TRUE(torch::equal(tensors.at("row").read(), base[1]));
    EXPECT_EQ(tensors.at("scalar").shape().size(), 0u);
    EXPECT_FLOAT_EQ(tensors.at("scalar").read().item<float>(), 3.5f);
    EXPECT_EQ(tensors.at("empty").read().numel(), 0);
    EXPECT_TRUE(torch::equal(tensors.at("parameter").read(), torch::ones(2)));
}

INSTANTIATE_TEST_SUITE_P(Protocols2And4, TorchFileProtocol, ::testing::Values(2, 4));

TEST(TorchFile, TruncatedAndForeignFilesGiveClearErrors) {
    TempDir dir;
    const std::string good = read_text_file(data_file("tensors_protocol2.pt"));
    write_file(dir / "not_zip.pt", "hello, I am not a checkpoint");
    EXPECT_TRUE(
        contains(error_of([&] { TorchFile{dir / "not_zip.pt"}; }), "not a torch.save zip archive"));
    for (const size_t keep : {good.size() / 2, good.size() - 30, size_t{10}}) {
        write_file(dir / "cut.pt", good.substr(0, keep));
        const std::string message = error_of([&] { TorchFile{dir / "cut.pt"}; });
        EXPECT_TRUE(contains(message, (dir / "cut.pt").string())) << message;
        EXPECT_TRUE(contains(message, "truncated") || contains(message, "corrupted")) << message;
    }
    EXPECT_TRUE(contains(error_of([&] { TorchFile{dir / "absent.pt"}; }), "cannot open"));
}

TEST(TorchFile, HostileArchivesAreRejectedNotCrashedOn) {
    const std::pair<const char*, const char*> cases[] = {
        {"forged_storage.pt", "malformed torch._utils._rebuild_tensor_v2 call"},
        {"past_storage.pt", "reaches past its storage of 4 elements"},
        {"overflowing_size.pt", "tensor size overflows"},
    };
    for (const auto& [file, expected] : cases) {
        // A copy: C++17 lambdas cannot capture structured bindings (clang rejects it).
        const std::string name = file;
        const std::string message = error_of([&] { TorchFile{data_file(name)}; });
        EXPECT_TRUE(contains(message, expected)) << file << ": " << message;
        EXPECT_TRUE(contains(message, data_file(file).string())) << message;
    }
}

// A safetensors file from a hand-written header: 8-byte header length, JSON header, data.
void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                           const std::string& data) {
    std::string bytes(8, '\0');
    for (size_t i = 0; i < 8; ++i) {
        bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    }
    write_file(path, bytes + header + data);
}

TEST(Safetensors, ReadsTensorsAndSkipsMetadata) {
    TempDir dir;
    const float values[] = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
    const std::string data(reinterpret_cast<const char*>(values), sizeof values);
    write_raw_safetensors(dir / "m.safetensors",
                          R"({"__metadata__": {"format": "pt"},
                          "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}})",
                          data);
    const StateDict tensors = read_safetensors(dir / "m.safetensors");
    EXPECT_EQ(tensors.size(), 2u);
    EXPECT_TRUE(torch::equal(tensors.at("a").read(), torch::tensor({{1.f, 2.f}, {3.f, 4.f}})));
    EXPECT_TRUE(torch::equal(tensors.at("b").read(), torch::tensor({5.f, 6.f})));

    testing::write_safetensors(dir / "w.safetensors", {{"x", torch::arange(6.f).view({2, 3})}});
    EXPECT_TRUE(torch::equal(read_safetensors(dir / "w.safetensors").at("x").read(),
                             torch::arange(6.f).view({2, 3})));
}

TEST(Safetensors, BadFilesNameTheProblem) {
    TempDir dir;
    const auto path = dir / "bad.safetensors";
    const std::string data(16, '\0');
    const auto error_for = [&](const std::string& header) {
        write_raw_safetensors(path, header, data);
        return error_of([&] { read_safetensors(path); });
    };
    EXPECT_TRUE(
        contains(error_for(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99]}})"),
                 "tensor a"));
    EXPECT_TRUE(
        contains(error_for(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})"),
                 "does not hold"));
    EXPECT_TRUE(
        contains(error_for(R"({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}})"),
                 "unsupported dtype C64"));
    EXPECT_TRUE(contains(error_for(R"({"a": {"dtype": "F32"}})"), "shape"));
    EXPECT_TRUE(contains(error_for("{not json"), "malformed header"));
    write_file(path, std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8));
    EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }), "does not fit"));
}

// A header nested beyond the JSON reader's limit is a malformed header of that file.
TEST(Safetensors, HostileNestingIsAMalformedHeader) {
    TempDir dir;
    const auto path = dir / "deep.safetensors";
    write_raw_safetensors(path, std::string(100000, '[') + std::string(100000, ']'), "");
    const std::string error = error_of([&] { read_safetensors(path); });
    EXPECT_TRUE(contains(error, path.string() + ": malformed header")) << error;
    EXPECT_TRUE(contains(error, "nesting deeper than")) << error;
}

struct Tiny : torch::nn::Module {
    Tiny() { fc = register_module("fc", torch::nn::Linear(2, 3)); }
    torch::nn::Linear fc{nullptr};
};

StoredTensor constant(std::vector<int64_t> shape, float value,
                      torch::Dtype dtype = torch::kFloat32) {
    return StoredTensor(shape, dtype,
                        [=](const torch::Tensor& destination) { destination.fill_(value); });
}

TEST(StateDict, LoadsByNameConvertingDtypes) {
    StateDict state("test.pt");
    state.add("fc.weight", constant({3, 2}, 0.5f, torch::kFloat16));
    state.add("fc.bias", constant({3}, -1.f));
    Tiny tiny;
    load_strict(tiny, state);
    EXPECT_TRUE(torch::equal(tiny.fc->weight, torch::full({3, 2}, 0.5f)));
    EXPECT_TRUE(torch::equal(tiny.fc->bias, torch::full({3}, -1.f)));
}

TEST(StateDict, MissingUnexpectedAndMisshapenTensorsAreNamed) {
    StateDict state("test.pt");
    state.add("fc.weight", constant({2, 3}, 0.f));
    state.add("fc.extra", constant({1}, 0.f));
    Tiny tiny;
    const std::string message = error_of([&] { load_strict(tiny, state); });
    EXPECT_TRUE(contains(message, "test.pt")) << message;
    EXPECT_TRUE(contains(message, "missing tensors:\n  fc.bias [3]")) << message;
    EXPECT_TRUE(contains(message, "fc.weight: checkpoint has [2, 3], model expects [3, 2]"))
        << message;
    EXPECT_TRUE(contains(message, "unexpected tensors:\n  fc.extra [1]")) << message;
}

TEST(StateDict, DuplicateNamesAndRenamingCollisions) {
    StateDict state("test.pt");
    state.add("a", constant({1}, 0.f));
    EXPECT_THROW(state.add("a", constant({1}, 0.f)), std::runtime_error);
    state.add("b", constant({1}, 0.f));
    EXPECT_THROW(state.renamed([](const std::string&) { return std::string("same"); }),
                 std::runtime_error);
    const StateDict only_a = state.renamed([](const std::string& n) -> std::optional<std::string> {
        return n == "a" ? std::optional<std::string>("x") : std::nullopt;
    });
    EXPECT_EQ(only_a.size(), 1u);
    EXPECT_TRUE(only_a.contains("x"));
}

// An HDF5 weights file like SeqVec's weights.hdf5, whose root also holds `build`'s links.
std::filesystem::path weights_file(const std::filesystem::path& path,
                                   const std::function<void(hid_t)>& build) {
    const h5::Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                          H5Fclose, "create");
    const float value = 1.5f;
    h5::write_float_dataset(file.id(), "w", {1}, &value).close("write");
    build(file.id());
    return path;
}

TEST(Hdf5Weights, ReadsDatasetsFollowingHardLinksOnly) {
    h5::silence_library_errors();
    TempDir dir;
    const StateDict plain = read_hdf5_weights(weights_file(dir / "plain.hdf5", [](hid_t file) {
        const h5::Handle group(H5Gcreate2(file, "cell", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                               H5Gclose, "group");
        const float value = 2.5f;
        h5::write_float_dataset(group.id(), "b", {1}, &value).close("write");
    }));
    EXPECT_EQ(plain.at("cell/b").read().item<float>(), 2.5f);
    EXPECT_EQ(plain.at("w").read().item<float>(), 1.5f);

    const auto soft = weights_file(dir / "soft.hdf5", [](hid_t file) {
        h5::check(H5Lcreate_soft("/w", file, "alias", H5P_DEFAULT, H5P_DEFAULT), "soft link");
    });
    EXPECT_TRUE(contains(error_of([&] { read_hdf5_weights(soft); }),
                         "soft.hdf5: alias is a soft or external link"));
    const auto external = weights_file(dir / "external.hdf5", [](hid_t file) {
        h5::check(H5Lcreate_external("/etc/elsewhere.h5", "/x", file, "elsewhere", H5P_DEFAULT,
                                     H5P_DEFAULT),
                  "external link");
    });
    EXPECT_TRUE(contains(error_of([&] { read_hdf5_weights(external); }),
                         "external.hdf5: elsewhere is a soft or external link"));
}

TEST(Hdf5Weights, HardLinkCyclesAreAnErrorNotARecursion) {
    h5::silence_library_errors();
    TempDir dir;
    const auto cycle = weights_file(dir / "cycle.hdf5", [](hid_t file) {
        const h5::Handle group(H5Gcreate2(file, "loop", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                               H5Gclose, "group");
        h5::check(H5Lcreate_hard(file, "/loop", group.id(), "again", H5P_DEFAULT, H5P_DEFAULT),
                  "hard link");
    });
    EXPECT_TRUE(contains(error_of([&] { read_hdf5_weights(cycle); }), "groups nested deeper than"));
}

TEST(Hdf5Weights, GroupsLinkedTwiceAreAnErrorNotAnExponentialWalk) {
    h5::silence_library_errors();
    TempDir dir;
    // A chain of groups, each linked twice from the one before: no cycle and within the depth
    // limit, but 2^30 paths to walk.
    const auto doubling = weights_file(dir / "doubling.hdf5", [](hid_t file) {
        h5::Handle previous = h5::open_group(file, "/");
        for (int level = 0; level < 30; ++level) {
            const std::string name = "level" + std::to_string(level);
            h5::Handle group(
                H5Gcreate2(previous.id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Gclose, "group");
            h5::check(H5Lcreate_hard(previous.id(), name.c_str(), previous.id(),
                                     (name + "_again").c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      "hard link");
            previous = std::move(group);
        }
    });
    const std::string message = error_of([&] { read_hdf5_weights(doubling); });
    EXPECT_TRUE(contains(message, doubling.string() + ": more than")) << message;
}

// Found by fuzzing: a damaged float type of 4 GB values made libhdf5 allocate 4 GB to read one.
TEST(Hdf5Weights, FloatsOfOtherSizesAreRefused) {
    h5::silence_library_errors();
    TempDir dir;
    const auto wide = weights_file(dir / "wide.hdf5", [](hid_t file) {
        const hsize_t size = 1;
        const h5::Handle space(H5Screate_simple(1, &size, nullptr), H5Sclose, "space");
        const h5::Handle dataset(H5Dcreate2(file, "long_double", H5T_NATIVE_LDOUBLE, space.id(),
                                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                 H5Dclose, "dataset");
        const long double value = 1;
        h5::check(H5Dwrite(dataset.id(), H5T_NATIVE_LDOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value),
                  "write");
    });
    const std::string message = error_of([&] { read_hdf5_weights(wide); });
    EXPECT_TRUE(contains(message,
                         "wide.hdf5: dataset long_double holds 16-byte floating-point "
                         "values; weights are 2, 4 or 8 bytes"))
        << message;
}

// Found by fuzzing: HDF5's own errors (a damaged group's heap or symbol table) reached the user
// without the file's name.
TEST(Hdf5Weights, DamagedFilesNameTheFileAndTheProblem) {
    h5::silence_library_errors();
    TempDir dir;
    const std::string good = read_text_file(weights_file(dir / "good.hdf5", [](hid_t file) {
        const h5::Handle group(H5Gcreate2(file, "cell", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                               H5Gclose, "group");
    }));
    // The signatures of a group's name heap and of its symbol table nodes.
    for (const auto& [signature, problem] :
         {std::pair<std::string, std::string>{"HEAP", "local heap"}, {"SNOD", "symbol table"}}) {
        std::string damaged = good;
        const size_t at = damaged.find(signature);
        ASSERT_NE(at, std::string::npos) << signature;
        damaged[at] = 'X';
        const auto path = dir / ("damaged_" + signature + ".hdf5");
        write_file(path, damaged);
        const std::string message = error_of([&] { read_hdf5_weights(path); });
        EXPECT_TRUE(contains(message, path.string() + ": ")) << message;
        EXPECT_TRUE(contains(message, problem)) << message;
    }
}

// Found by fuzzing: libhdf5 1.10.8 (and h5py with it) dies of a segmentation fault walking this
// file's groups. embed parses HDF5 weights in a child process: an error, not a crash.
TEST(Hdf5Weights, ACrashOfLibhdf5IsAnErrorNamingTheFile) {
    const auto path = data_file("libhdf5_crashes_on_this.hdf5");
    const std::string message = error_of([&] { read_hdf5_weights(path); });
    EXPECT_TRUE(contains(message, path.string() + ": ")) << message;
}

TEST(Hdf5Weights, ShapesBeyondWhatTheFileCanHoldAreRefused) {
    h5::silence_library_errors();
    TempDir dir;
    // Chunked and never written: a terabyte dataset in a file of a few kilobytes.
    const auto huge = weights_file(dir / "huge.hdf5", [](hid_t file) {
        const hsize_t shape[] = {1 << 20, 1 << 18};
        const hsize_t chunk[] = {1, 1 << 18};
        const h5::Handle space(H5Screate_simple(2, shape, nullptr), H5Sclose, "space");
        const h5::Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "properties");
        h5::check(H5Pset_chunk(properties.id(), 2, chunk), "chunk");
        h5::Handle(H5Dcreate2(file, "huge", H5T_NATIVE_FLOAT, space.id(), H5P_DEFAULT,
                              properties.id(), H5P_DEFAULT),
                   H5Dclose, "dataset");
    });
    const std::string message = error_of([&] { read_hdf5_weights(huge); });
    EXPECT_TRUE(contains(message, "huge.hdf5: dataset huge takes the datasets past")) << message;
}

TEST(Hdf5Weights, TheWeightsAreMappedAndReadAlike) {
    h5::silence_library_errors();
    TempDir dir;
    const StateDict state = read_hdf5_weights(weights_file(dir / "w.hdf5", [](hid_t file) {
        const std::vector<float> values = {1, 2, 3, 4, 5, 6};
        h5::write_float_dataset(file, "m", {2, 3}, values.data()).close("write");
    }));
    const torch::Tensor mapped = state.at("m").mapped();
    ASSERT_TRUE(mapped.defined());
    EXPECT_TRUE(torch::equal(mapped, state.at("m").read()));
    EXPECT_TRUE(torch::equal(mapped, torch::arange(1, 7, torch::kFloat32).view({2, 3})));
    EXPECT_EQ(state.at("w").mapped().item<float>(), 1.5f);
}

TEST(MapTensor, ViewsTheFileWhereAlignedAndInside) {
    TempDir dir;
    const std::vector<float> values = {0.5f, 1.5f, 2.5f, 3.5f};
    write_file(dir / "f", std::string(reinterpret_cast<const char*>(values.data()), 16));
    const auto file = ReadOnlyFile::open(dir / "f");
    const torch::Tensor t = map_tensor(file, 4, {3}, torch::kFloat32);
    ASSERT_TRUE(t.defined());
    EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, 2.5f, 3.5f})));
    t.fill_(7);  // copy-on-write: the file keeps its bytes
    EXPECT_EQ(read_text_file(dir / "f"),
              std::string(reinterpret_cast<const char*>(values.data()), 16));
    EXPECT_FALSE(map_tensor(file, 2, {1}, torch::kFloat32).defined());  // misaligned
    EXPECT_FALSE(map_tensor(file, 8, {3}, torch::kFloat32).defined());  // past the end
}

}  // namespace
}  // namespace embed
