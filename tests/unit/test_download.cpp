// Downloads against a server on 127.0.0.1 started by the test, and the resolution of model
// names over every place users keep models.
#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "base/digest.h"
#include "hub/download.h"
#include "hub/model_store.h"

#include "http_server.h"
#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::error_of;
using testing::LocalHttpServer;
using testing::read_all;
using testing::TempDir;
using testing::write_file;

const DownloadOptions kQuiet{3, false, 5, 5};

// Pseudo-random bytes, so that a misplaced resume shows.
std::string fixture_bytes(size_t size) {
    std::string out(size, '\0');
    uint32_t x = 12345;
    for (char& c : out) {
        x = x * 1103515245 + 12345;
        c = static_cast<char>(x >> 24);
    }
    return out;
}

ExpectedContent checksums_of(const std::string& content) {
    Digest sha256(Digest::Algorithm::sha256);
    sha256.update(content.data(), content.size());
    Digest md5(Digest::Algorithm::md5);
    md5.update(content.data(), content.size());
    return {content.size(), sha256.hex(), md5.hex()};
}

class Download : public ::testing::Test {
protected:
    LocalHttpServer server_;
    TempDir dir_;
    const std::string content_ = fixture_bytes(300'000);
    fs::path destination_ = dir_ / "models" / "model.pt";
};

TEST_F(Download, VerifiedFileAppearsAndNothingElse) {
    server_.serve("/model.pt", {content_});
    download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
    EXPECT_FALSE(fs::exists(destination_.string() + ".part"));
}

TEST_F(Download, CorruptedFileIsAnErrorAndNothingIsKept) {
    std::string corrupted = content_;
    corrupted[1000] ^= 0x5A;
    server_.serve("/model.pt", {corrupted});
    try {
        download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
        FAIL();
    } catch (const ChecksumError& e) {
        EXPECT_TRUE(contains(e.what(), "SHA-256 checksum mismatch")) << e.what();
    }
    EXPECT_FALSE(fs::exists(destination_));
    EXPECT_FALSE(fs::exists(destination_.string() + ".part"));

    ExpectedContent md5_only = checksums_of(content_);
    md5_only.sha256.clear();
    EXPECT_TRUE(contains(error_of([&] {
                             download_file({server_.url("/model.pt")}, destination_, md5_only,
                                           kQuiet);
                         }),
                         "MD5 checksum mismatch"));
    ExpectedContent wrong_size;
    wrong_size.size = content_.size() + 1;
    EXPECT_TRUE(contains(error_of([&] {
                             download_file({server_.url("/model.pt")}, destination_, wrong_size,
                                           kQuiet);
                         }),
                         "expected 300001"));
    EXPECT_FALSE(fs::exists(destination_));
}

TEST_F(Download, BrokenTransferResumesWhereItStopped) {
    server_.serve("/model.pt", {content_, /*break_after=*/120'000});
    download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
    const std::vector<std::string> requests = server_.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0], "GET /model.pt");
    EXPECT_EQ(requests[1], "GET /model.pt bytes=120000-");
}

TEST_F(Download, PartialFileOfAnEarlierRunIsResumed) {
    fs::create_directories(destination_.parent_path());
    write_file(destination_.string() + ".part", content_.substr(0, 200'000));
    server_.serve("/model.pt", {content_});
    download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
    EXPECT_EQ(server_.requests(), std::vector<std::string>{"GET /model.pt bytes=200000-"});
}

TEST_F(Download, AnErrorPageDuringAResumeLeavesThePartIntact) {
    fs::create_directories(destination_.parent_path());
    write_file(destination_.string() + ".part", content_.substr(0, 100'000));
    LocalHttpServer::Resource flaky{content_};
    flaky.fail_first_with = 503;
    server_.serve("/model.pt", flaky);
    const std::string failure = error_of([&] {
        download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    });
    EXPECT_TRUE(contains(failure, "HTTP 503")) << failure;
    EXPECT_EQ(fs::file_size(destination_.string() + ".part"), 100'000u) << "no error page in it";
    download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
}

TEST_F(Download, StalePartLargerThanTheRemoteFileStartsOver) {
    fs::create_directories(destination_.parent_path());
    write_file(destination_.string() + ".part", content_ + "trailing garbage");
    server_.serve("/model.pt", {content_});
    download_file({server_.url("/model.pt")}, destination_, {}, kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
}

TEST_F(Download, ACorruptedMirrorFallsBackToTheNext) {
    std::string corrupted = content_;
    corrupted[5] ^= 1;
    server_.serve("/bad/model.pt", {corrupted});
    server_.serve("/good/model.pt", {content_});
    download_file({server_.url("/bad/model.pt"), server_.url("/good/model.pt")}, destination_,
                  checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
}

TEST_F(Download, ServerWithoutRangesStartsTheFileOver) {
    fs::create_directories(destination_.parent_path());
    write_file(destination_.string() + ".part", std::string(50'000, 'x'));
    server_.serve("/model.pt", {content_, 0, /*ranges=*/false});
    download_file({server_.url("/model.pt")}, destination_, checksums_of(content_), kQuiet);
    EXPECT_EQ(read_all(destination_), content_);
}

TEST_F(Download, MissingFileAndUnreachableHostNameTheUrl) {
    const std::string missing =
        error_of([&] { download_file({server_.url("/nothing.pt")}, destination_, {}, kQuiet); });
    EXPECT_TRUE(contains(missing, "/nothing.pt")) << missing;
    EXPECT_TRUE(contains(missing, "HTTP 404")) << missing;
    // A port nobody listens on: refused at once.
    const std::string refused =
        error_of([&] { download_file({"http://127.0.0.1:9/model.pt"}, destination_, {}, kQuiet); });
    EXPECT_TRUE(contains(refused, "127.0.0.1:9/model.pt: download failed")) << refused;
    EXPECT_FALSE(fs::exists(destination_));
    EXPECT_FALSE(fs::exists(destination_.string() + ".part"));
}

// A released model as a card, served by the test server.
ModelCard served_card(LocalHttpServer& server, const std::string& weights) {
    server.serve("/mirror/esm2_test.pt", {weights});
    server.serve("/regression/esm2_test-contact-regression.pt", {"regression"});
    ModelCard card;
    card.name = "esm2_test";
    card.family = "ESM-2";
    card.checkpoint = "esm2_test.pt";
    ModelFile main;
    main.name = "esm2_test.pt";
    main.urls = {server.url("/gone/esm2_test.pt"), server.url("/mirror/esm2_test.pt")};
    main.sha256 = checksums_of(weights).sha256;
    ModelFile regression;
    regression.name = "esm2_test-contact-regression.pt";
    regression.urls = {server.url("/regression/esm2_test-contact-regression.pt")};
    regression.optional = true;
    regression.purpose = "contacts";
    ModelFile missing_optional = regression;
    missing_optional.name = "extra.bin";
    missing_optional.urls = {server.url("/extra.bin")};
    card.files = {main, regression, missing_optional};
    return card;
}

TEST_F(Download, AFailedModelDownloadIsResumedByTheNextRun) {
    const std::string weights = content_;
    ModelCard card = served_card(server_, weights);
    server_.serve("/mirror/esm2_test.pt", {weights, /*break_after=*/100'000});
    card.files[0].urls = {server_.url("/mirror/esm2_test.pt")};
    DownloadOptions one_try = kQuiet;
    one_try.attempts = 1;
    EXPECT_THROW(download_model(card, dir_ / "cache" / card.name, one_try), std::runtime_error);
    const fs::path part = dir_ / "cache" / card.name / "esm2_test.pt.part";
    EXPECT_EQ(fs::file_size(part), 100'000u) << "kept for the next run";
    download_model(card, dir_ / "cache" / card.name, one_try);
    EXPECT_EQ(read_all(dir_ / "cache" / card.name / "esm2_test.pt"), weights);
    const std::vector<std::string> requests = server_.requests();
    EXPECT_NE(std::find(requests.begin(), requests.end(), "GET /mirror/esm2_test.pt bytes=100000-"),
              requests.end());
}

TEST_F(Download, ModelFilesComeFromTheirMirrorsAndOptionalOnesMayFail) {
    const ModelCard card = served_card(server_, content_);
    const fs::path checkpoint = download_model(card, dir_ / "cache" / card.name, kQuiet);
    EXPECT_EQ(checkpoint, dir_ / "cache" / "esm2_test" / "esm2_test.pt");
    EXPECT_EQ(read_all(checkpoint), content_);
    EXPECT_EQ(read_all(checkpoint.parent_path() / "esm2_test-contact-regression.pt"), "regression");
    EXPECT_FALSE(fs::exists(checkpoint.parent_path() / "extra.bin"));
}

ModelLocations locations_in(const TempDir& dir) {
    ModelLocations locations;
    locations.cache = dir / "cache";
    locations.torch_hub = dir / "torch" / "hub" / "checkpoints";
    locations.hugging_face_hub = dir / "huggingface" / "hub";
    return locations;
}

TEST_F(Download, NamesAreFoundOrDownloadedIntoTheCache) {
    const std::vector<ModelCard> cards = {served_card(server_, content_)};
    const ModelLocations locations = locations_in(dir_);

    const std::string offline =
        error_of([&] { resolve_model("esm2_test", locations, /*offline=*/true, cards); });
    EXPECT_TRUE(contains(offline, "esm2_test is not on this machine, and --offline")) << offline;
    EXPECT_TRUE(contains(offline, "embed download esm2_test")) << offline;
    EXPECT_TRUE(contains(offline, server_.url("/gone/esm2_test.pt"))) << offline;
    EXPECT_TRUE(server_.requests().empty()) << "offline means no request at all";

    const fs::path downloaded = resolve_model("esm2_test", locations, false, cards);
    EXPECT_EQ(downloaded, locations.cache / "esm2_test" / "esm2_test.pt");
    EXPECT_EQ(read_all(downloaded), content_);
    const size_t requests = server_.requests().size();
    EXPECT_EQ(resolve_model("esm2_test", locations, true, cards), downloaded) << "now local";
    EXPECT_EQ(server_.requests().size(), requests);

    EXPECT_THROW(resolve_model("no_such_model", locations, false, cards), std::invalid_argument);
    write_file(dir_ / "my.pt", "x");
    EXPECT_EQ(resolve_model((dir_ / "my.pt").string(), locations, true, cards), dir_ / "my.pt");
}

TEST_F(Download, CorruptedModelDownloadIsReportedAsSuch) {
    std::vector<ModelCard> cards = {served_card(server_, content_)};
    cards[0].files[0].sha256 = std::string(64, '0');
    const std::string message =
        error_of([&] { resolve_model("esm2_test", locations_in(dir_), false, cards); });
    EXPECT_TRUE(contains(message, "checksum mismatch")) << message;
    EXPECT_FALSE(fs::exists(dir_ / "cache" / "esm2_test" / "esm2_test.pt"));
}

// Every place find_local_model() looks, each tried alone.
class ModelLayouts : public ::testing::Test {
protected:
    ModelLayouts() {
        card_.name = "esm2_t6_8M_UR50D";
        card_.checkpoint = "esm2_t6_8M_UR50D.pt";
        card_.hugging_face = "facebook/esm2_t6_8M_UR50D";
        ModelFile weights;
        weights.name = card_.checkpoint;
        weights.urls = {"https://example.org/x.pt"};
        ModelFile regression = weights;
        regression.name = "esm2_t6_8M_UR50D-contact-regression.pt";
        regression.optional = true;
        card_.files = {weights, regression};
        locations_ = locations_in(dir_);
        locations_.model_dirs = {dir_ / "site-models"};
    }
    void file(const fs::path& path) {
        fs::create_directories(path.parent_path());
        write_file(path, "weights");
    }
    std::optional<fs::path> found() const { return find_local_model(card_, locations_); }

    TempDir dir_;
    ModelCard card_;
    ModelLocations locations_;
};

TEST_F(ModelLayouts, NowhereIsNothing) {
    EXPECT_FALSE(found().has_value());
}

TEST_F(ModelLayouts, ModelDirectoryWithTheFileOrADirectoryPerModel) {
    file(dir_ / "site-models" / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), dir_ / "site-models" / "esm2_t6_8M_UR50D.pt");
    file(dir_ / "site-models" / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), dir_ / "site-models" / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
}

TEST_F(ModelLayouts, ModelDirectoryWithAHuggingFaceDirectory) {
    file(dir_ / "site-models" / "esm2_t6_8M_UR50D" / "config.json");
    EXPECT_FALSE(found().has_value()) << "no weights yet";
    file(dir_ / "site-models" / "esm2_t6_8M_UR50D" / "model.safetensors");
    EXPECT_EQ(found(), dir_ / "site-models" / "esm2_t6_8M_UR50D");
}

TEST_F(ModelLayouts, ProjectCache) {
    file(locations_.cache / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), locations_.cache / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
}

TEST_F(ModelLayouts, TorchHubCheckpointsAsFairEsmLeavesThem) {
    file(locations_.torch_hub / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), locations_.torch_hub / "esm2_t6_8M_UR50D.pt");
    write_file(locations_.torch_hub / "esm2_t6_8M_UR50D.pt", "");
    EXPECT_FALSE(found().has_value()) << "an empty file is an aborted download";
}

TEST_F(ModelLayouts, HuggingFaceHubCacheFollowsRefsMain) {
    const fs::path repository = locations_.hugging_face_hub / "models--facebook--esm2_t6_8M_UR50D";
    file(repository / "snapshots" / "old" / "config.json");
    file(repository / "snapshots" / "old" / "model.safetensors");
    file(repository / "snapshots" / "abc123" / "config.json");
    file(repository / "snapshots" / "abc123" / "pytorch_model.bin");
    file(repository / "refs" / "main");
    write_file(repository / "refs" / "main", "abc123");
    EXPECT_EQ(found(), repository / "snapshots" / "abc123");
}

TEST_F(ModelLayouts, HuggingFaceHubCacheWithoutRefsTakesTheNewestSnapshot) {
    const fs::path repository = locations_.hugging_face_hub / "models--facebook--esm2_t6_8M_UR50D";
    file(repository / "snapshots" / "only" / "config.json");
    file(repository / "snapshots" / "only" / "model.safetensors");
    EXPECT_EQ(found(), repository / "snapshots" / "only");
}

TEST_F(ModelLayouts, SearchOrderIsModelDirsCacheTorchHubHuggingFace) {
    file(locations_.torch_hub / "esm2_t6_8M_UR50D.pt");
    file(locations_.cache / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), locations_.cache / "esm2_t6_8M_UR50D" / "esm2_t6_8M_UR50D.pt");
    file(dir_ / "site-models" / "esm2_t6_8M_UR50D.pt");
    EXPECT_EQ(found(), dir_ / "site-models" / "esm2_t6_8M_UR50D.pt");
}

TEST_F(ModelLayouts, DirectoryModelsNeedAllTheirRequiredFiles) {
    ModelCard seqvec;
    seqvec.name = "seqvec";
    seqvec.checkpoint = ".";
    ModelFile options;
    options.name = "options.json";
    options.urls = {"https://example.org/options.json"};
    ModelFile weights = options;
    weights.name = "weights.hdf5";
    seqvec.files = {options, weights};
    file(dir_ / "site-models" / "seqvec" / "options.json");
    EXPECT_FALSE(find_local_model(seqvec, locations_).has_value());
    file(dir_ / "site-models" / "seqvec" / "weights.hdf5");
    EXPECT_EQ(find_local_model(seqvec, locations_), dir_ / "site-models" / "seqvec" / ".");
}

TEST(ModelLocations, FromTheEnvironment) {
    struct Variable {
        const char* name;
        const char* value;
    };
    const Variable variables[] = {{"HOME", "/home/u"},
                                  {"XDG_CACHE_HOME", nullptr},
                                  {"EMBED_MODEL_DIR", "/site/a:/site/b"},
                                  {"EMBED_CACHE_DIR", nullptr},
                                  {"TORCH_HOME", "/torch"},
                                  {"HF_HUB_CACHE", nullptr},
                                  {"HF_HOME", "/hf"}};
    std::vector<std::pair<std::string, std::optional<std::string>>> saved;
    for (const Variable& v : variables) {
        const char* old = std::getenv(v.name);
        saved.emplace_back(v.name, old ? std::optional<std::string>(old) : std::nullopt);
        if (v.value != nullptr) {
            ::setenv(v.name, v.value, 1);
        } else {
            ::unsetenv(v.name);
        }
    }
    const ModelLocations locations = ModelLocations::from_environment(fs::path("/given"));
    for (const auto& [name, value] : saved) {
        if (value) {
            ::setenv(name.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name.c_str());
        }
    }
    EXPECT_EQ(locations.model_dirs, (std::vector<fs::path>{"/given", "/site/a", "/site/b"}));
    EXPECT_EQ(locations.cache, "/home/u/.cache/embed/models");
    EXPECT_EQ(locations.torch_hub, "/torch/hub/checkpoints");
    EXPECT_EQ(locations.hugging_face_hub, "/hf/hub");
}

}  // namespace
}  // namespace embed
