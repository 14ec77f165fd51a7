//===- CudaTest.cpp - Tests of the CUDA backend ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The launch plan reader runs everywhere. The execution tests run a
// hand-written plan (cuBLAS products, strided copies, views, fills; no
// generated kernels, so no rotorc is needed) on the GPU, and report
// themselves skipped where there is no GPU or driver (as in CI).
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "cuda/CudaPlan.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sys/stat.h>
#include <vector>

using namespace rotor;
using namespace rotor::cuda;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// A plan with one entry whose fields are spliced in.
std::string planWith(const std::string &entryBody,
                     const std::string &kernels = "[]",
                     const std::string &extra = "") {
  return R"({"format": "rotor-cuda-plan", "format_version": 1,
             "source": "kernels.cu", "include_dir": "include",)" +
         extra + R"("kernels": )" + kernels + R"(, "entries": [{)" +
         entryBody + "}]}";
}

/// y (2, N) = x (2, K) · wᵀ for w (N, K), then z (2, 2N) = concat(y, y) on
/// the last axis through two 2-D copies (pitches in bytes: 4N and 8N), a
/// view of z, and a zero fill: every step kind but launch. K and N are
/// dynamic.
const char *gemmEntry = R"(
  "name": "rotor_entry_f", "num_inputs": 2,
  "symbols": [["const", 2], ["dim", 0, 1], ["dim", 1, 0], ["const", 0],
              ["const", 1], ["const", 4], ["mul", 2, 5], ["add", 2, 2],
              ["add", 6, 6], ["const", 3]],
  "values": [["f32", [0, 1]], ["f32", [2, 1]], ["f32", [0, 2]],
             ["f32", [0, 7]], ["f32", [0, 7]], ["f32", [9]]],
  "inputs": [0, 1], "outputs": [2, 3, 4, 5],
  "steps": [
    {"op": "gemm", "a": 0, "b": 1, "c": 2, "m": 0, "n": 2, "k": 1, "batch": 4,
     "offset_a": 3, "offset_b": 3, "offset_c": 3, "stride_a": 3,
     "stride_b": 3, "stride_c": 3, "trans_a": false, "trans_b": true,
     "alpha": 1.0, "beta": 0.0},
    {"op": "copy2d", "src": 2, "dst": 3, "src_offset": 3, "dst_offset": 3,
     "src_pitch": 6, "dst_pitch": 8, "width": 6, "height": 0},
    {"op": "copy2d", "src": 2, "dst": 3, "src_offset": 3, "dst_offset": 6,
     "src_pitch": 6, "dst_pitch": 8, "width": 6, "height": 0},
    {"op": "view", "src": 3, "dst": 4, "offset": 3},
    {"op": "fill", "dst": 5},
    {"op": "free", "values": [0, 1]}])";

TEST(CudaPlan, ParsesAValidPlan) {
  Plan plan;
  ASSERT_EQ(parsePlan(planWith(gemmEntry), "p.json", plan), ROTOR_OK)
      << rotor_last_error();
  ASSERT_EQ(plan.entries.size(), 1u);
  EXPECT_EQ(plan.entries[0].steps.size(), 6u);
  EXPECT_EQ(plan.entries[0].steps[0].kind, StepKind::Gemm);
  EXPECT_TRUE(plan.entries[0].steps[0].transB);
  EXPECT_EQ(plan.entries[0].symbols[1].op, SymbolOp::Dim);
}

struct BadPlan {
  const char *what;
  std::string text;
  const char *message;
};

class CudaPlanErrors : public ::testing::TestWithParam<BadPlan> {};

TEST_P(CudaPlanErrors, NameTheFieldAndTheRule) {
  Plan plan;
  rotor_status s = parsePlan(GetParam().text, "art/plan.json", plan);
  EXPECT_NE(s, ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("art/plan.json"));
  EXPECT_THAT(rotor_last_error(), HasSubstr(GetParam().message));
}

std::string replaced(std::string text, const std::string &from,
                     const std::string &to) {
  size_t pos = text.find(from);
  if (pos != std::string::npos)
    text.replace(pos, from.size(), to);
  return text;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, CudaPlanErrors,
    ::testing::Values(
        BadPlan{"version", replaced(planWith(gemmEntry), "\"format_version\": 1",
                                    "\"format_version\": 2"),
                "reads CUDA plans of version 1"},
        BadPlan{"format", replaced(planWith(gemmEntry), "rotor-cuda-plan", "x"),
                "expected \"rotor-cuda-plan\""},
        BadPlan{"forward symbol",
                replaced(planWith(gemmEntry), "[\"mul\", 2, 5]",
                         "[\"mul\", 2, 7]"),
                "symbols[6][2]: value 7 is outside [0, 5]"},
        BadPlan{"dim of a missing input",
                replaced(planWith(gemmEntry), "[\"dim\", 1, 0]",
                         "[\"dim\", 5, 0]"),
                "symbols[2][1]"},
        BadPlan{"unknown symbol op",
                replaced(planWith(gemmEntry), "\"add\"", "\"pow\""),
                "unknown symbol op 'pow'"},
        BadPlan{"value out of range",
                replaced(planWith(gemmEntry), "\"c\": 2", "\"c\": 17"),
                "steps[0].c: value 17 is outside [0, 5]"},
        BadPlan{"unknown step", replaced(planWith(gemmEntry), "\"fill\"",
                                         "\"memset\""),
                "unknown step 'memset'"},
        BadPlan{"unknown field",
                replaced(planWith(gemmEntry), "\"alpha\": 1.0",
                         "\"alpha\": 1.0, \"gamma\": 2"),
                "unknown field 'gamma'"},
        BadPlan{"input count",
                replaced(planWith(gemmEntry), "\"num_inputs\": 2",
                         "\"num_inputs\": 3"),
                "lists 2 values but num_inputs is 3"},
        BadPlan{"unknown dtype",
                replaced(planWith(gemmEntry), "[\"f32\", [9]]",
                         "[\"f8\", [9]]"),
                "unknown dtype 'f8'"},
        BadPlan{"path in a file name",
                replaced(planWith(gemmEntry), "\"kernels.cu\"",
                         "\"../kernels.cu\""),
                "is not a file name inside the artifact directory"},
        BadPlan{"launch of a missing kernel",
                replaced(planWith(gemmEntry), "{\"op\": \"fill\", \"dst\": 5}",
                         "{\"op\": \"launch\", \"kernel\": 0, \"grid\": [4, 4, "
                         "4], \"ptrs\": [5], \"dims\": [], \"floats\": [], "
                         "\"writes\": [5]}"),
                "refers to a kernel but there are none"},
        BadPlan{"write not passed",
                replaced(planWith(gemmEntry, "[\"k\"]"),
                         "{\"op\": \"fill\", \"dst\": 5}",
                         "{\"op\": \"launch\", \"kernel\": 0, \"grid\": [4, 4, "
                         "4], \"ptrs\": [4], \"dims\": [], \"floats\": [], "
                         "\"writes\": [5]}"),
                "value 5 is written but not passed in ptrs"}),
    [](const ::testing::TestParamInfo<BadPlan> &info) {
      std::string name;
      for (char c : std::string(info.param.what))
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

/// Writes a CUDA artifact holding `plan` with one entry `f`.
std::string makeCudaArtifact(const TempDir &root) {
  std::string dir = root.file("cuda.rotor");
  ::mkdir(dir.c_str(), 0755);
  writeFile(dir + "/plan.json", planWith(gemmEntry));
  writeFile(dir + "/kernels.cu", "");
  writeFile(dir + "/manifest.json", R"({
    "format": "rotor-artifact", "format_version": 1, "target": "cuda",
    "library": "plan.json", "entries": [{
      "name": "f", "symbol": "rotor_entry_f",
      "inputs": [{"name": "x", "dtype": "f32", "shape": [2, null]},
                 {"name": "w", "dtype": "f32", "shape": [null, null]}],
      "outputs": [{"name": "y", "dtype": "f32", "shape": [2, null]},
                  {"name": "z", "dtype": "f32", "shape": [2, null]},
                  {"name": "zv", "dtype": "f32", "shape": [2, null]},
                  {"name": "zero", "dtype": "f32", "shape": [3]}]}]})");
  return dir;
}

TEST(CudaBackend, RunsAPlanOrSkipsWithoutAGpu) {
  TempDir root;
  std::string dir = makeCudaArtifact(root);
  rotor_artifact *art = nullptr;
  rotor_status s = rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CUDA, &art);
  if (s == ROTOR_ERR_UNSUPPORTED)
    GTEST_SKIP() << "no CUDA device here: " << rotor_last_error();
  ASSERT_EQ(s, ROTOR_OK) << rotor_last_error();

  const int64_t k = 5, n = 4;
  std::vector<float> x(2 * k), w(n * k);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(0.7 * i);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::cos(0.3 * i);
  int64_t xs[] = {2, k}, ws[] = {n, k};
  rotor_tensor *in[2] = {nullptr, nullptr};
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_F32, 2, xs, x.data(), &in[0]), ROTOR_OK);
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_F32, 2, ws, w.data(), &in[1]), ROTOR_OK);
  rotor_tensor *out[4] = {};
  ASSERT_EQ(rotor_call(art, "f", in, 2, out, 4), ROTOR_OK)
      << rotor_last_error();
  const float *y = static_cast<const float *>(rotor_tensor_data(out[0]));
  const float *z = static_cast<const float *>(rotor_tensor_data(out[1]));
  const float *zv = static_cast<const float *>(rotor_tensor_data(out[2]));
  const float *zero = static_cast<const float *>(rotor_tensor_data(out[3]));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (int64_t c = 0; c < k; ++c)
        ref += double(x[i * k + c]) * w[j * k + c];
      EXPECT_NEAR(y[i * n + j], ref, 1e-4) << i << "," << j;
      EXPECT_EQ(z[i * 8 + j], y[i * n + j]);
      EXPECT_EQ(z[i * 8 + n + j], y[i * n + j]);
      EXPECT_EQ(zv[i * 8 + j], y[i * n + j]);
    }
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(zero[i], 0.0f);
  for (rotor_tensor *t : out)
    rotor_tensor_free(t);
  for (rotor_tensor *t : in)
    rotor_tensor_free(t);
  rotor_artifact_free(art);
}

TEST(CudaBackend, WrongDeviceIsAnErrorNamingTheTarget) {
  TempDir root;
  std::string dir = makeCudaArtifact(root);
  rotor_artifact *art = nullptr;
  EXPECT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &art),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("compiled for target 'cuda'"));
  EXPECT_EQ(art, nullptr);
}

} // namespace
