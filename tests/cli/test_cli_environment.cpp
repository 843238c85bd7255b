// End to end, what embed takes from its surroundings: models by name from a model directory,
// OpenMP's and OpenBLAS's settings; --help and --version.
#include "kernels/simd.h"

#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::example_fasta;
using testing::local_model;
using testing::run_embed;

TEST_F(Cli, ModelsByNameFromAModelDirectory) {
    // A site's model directory holding a Hugging Face copy under the released name.
    const fs::path site = dir_ / "site-models";
    fs::create_directories(site / "esm2_t6_8M_UR50D");
    for (const auto& entry : fs::directory_iterator(local_model())) {
        fs::copy_file(entry.path(), site / "esm2_t6_8M_UR50D" / entry.path().filename());
    }
    const std::string environment = "EMBED_CACHE_DIR=" + (dir_ / "cache").string() +
                                    " TORCH_HOME=" + (dir_ / "torch").string() +
                                    " HF_HOME=" + (dir_ / "hf").string() + " ";
    const auto listed =
        testing::run_embed_with_environment(environment, "models --model-dir " + site.string());
    ASSERT_EQ(listed.status, 0) << listed.output;
    EXPECT_TRUE(contains(listed.output, "esm2_t6_8M_UR50D"));
    EXPECT_TRUE(contains(listed.output, (site / "esm2_t6_8M_UR50D").string())) << listed.output;
    EXPECT_TRUE(contains(listed.output, "seqvec")) << listed.output;

    const auto result = testing::run_embed_with_environment(
        environment, example_fasta() + " -o " + out_.string() +
                         " -m esm2_t6_8M_UR50D --offline --model-dir " + site.string());
    ASSERT_EQ(result.status, 0) << result.output;
    // The copy is the tiny test model, not the released one: said, not fatal.
    EXPECT_TRUE(contains(result.output,
                         "is named like the released esm2_t6_8M_UR50D but has 2 "
                         "layers of width 32"))
        << result.output;

    const auto absent = testing::run_embed_with_environment(
        environment, example_fasta() + " -o " + (dir_ / "absent.h5").string() +
                         " -m esm2_t12_35M_UR50D --offline");
    EXPECT_EQ(absent.status, 1);
    EXPECT_TRUE(contains(absent.output, "embed download esm2_t12_35M_UR50D")) << absent.output;
    EXPECT_TRUE(contains(absent.output,
                         "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t12_35M_UR50D.pt"))
        << absent.output;
}

TEST(CliWithoutFixtures, HelpAndVersion) {
    const auto help = run_embed("--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_TRUE(contains(help.output, "--max-tokens"));
    const auto version = run_embed("--version");
    EXPECT_EQ(version.status, 0);
    EXPECT_TRUE(contains(version.output, EMBED_VERSION));
}

// libgomp prints the settings it read at start-up when OMP_DISPLAY_ENV is set; a spin count of
// 0 is what PASSIVE does (with no policy at all it prints PASSIVE too, but spins 300,000 times).
// A setenv() from .preinit_array came too late for libgomp: hence the restart.
TEST(CliWithoutFixtures, OpenMpThreadsSleepWhenIdleUnlessTheUserSaysOtherwise) {
    const auto ours = testing::run_embed_with_environment(
        "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose", "--version");
    EXPECT_EQ(ours.status, 0);
    EXPECT_TRUE(contains(ours.output, "GOMP_SPINCOUNT = '0'")) << ours.output;
    const auto users = testing::run_embed_with_environment(
        "OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=verbose", "--version");
    EXPECT_TRUE(contains(users.output, "OMP_WAIT_POLICY = 'ACTIVE'")) << users.output;
}

// OPENBLAS_CORETYPE=Haswell on a CPU with AVX-512 halves the float32 products' speed: embed says
// so (where the CPU has AVX-512), and says nothing when OpenBLAS chooses its kernels itself.
TEST_F(Cli, SaysWhenOpenBlasIsHeldToAvx2Kernels) {
    const std::string input = example_fasta() + " -m " + local_model() + " -o ";
    const auto forced = testing::run_embed_with_environment("OPENBLAS_CORETYPE=Haswell",
                                                            input + (dir_ / "forced.h5").string());
    ASSERT_EQ(forced.status, 0) << forced.output;
    const bool avx512 = cpu_has_avx512();
    const bool openblas = contains(forced.output, "DYNAMIC_ARCH");  // reads OPENBLAS_CORETYPE
    EXPECT_EQ(contains(forced.output,
                       "OPENBLAS_CORETYPE=Haswell holds OpenBLAS to its Haswell "
                       "kernels"),
              avx512 && openblas)
        << forced.output;
    const auto chosen = testing::run_embed_with_environment("env -u OPENBLAS_CORETYPE",
                                                            input + (dir_ / "chosen.h5").string());
    ASSERT_EQ(chosen.status, 0) << chosen.output;
    EXPECT_FALSE(contains(chosen.output, "OPENBLAS_CORETYPE")) << chosen.output;
}

}  // namespace
}  // namespace embed
