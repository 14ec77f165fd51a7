//===- CudaTest.cpp - Tests of the CUDA backend ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The launch plan reader runs everywhere. The execution tests run a
// hand-written plan (cuBLAS products, strided copies, views, fills; no
// generated kernels, so no rotorc is needed) on the GPU, and report
// themselves skipped where there is no GPU or driver (as in CI): plain calls,
// and sessions whose state is updated in place, copied or replaced, with
// and without CUDA graphs.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "cuda/CudaPlan.h"
#include "rotor/io/Safetensors.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>
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

// The inputs an entry writes in place (static caches) are listed.
TEST(CudaPlan, ReadsMutatedInputs) {
  Plan plan;
  std::string text = replaced(planWith(gemmEntry), "\"inputs\": [0, 1],",
                              "\"inputs\": [0, 1], \"mutated_inputs\": [1],");
  ASSERT_EQ(parsePlan(text, "p.json", plan), ROTOR_OK) << rotor_last_error();
  EXPECT_EQ(plan.entries[0].mutatedInputs, std::vector<int>{1});
  Plan none;
  ASSERT_EQ(parsePlan(planWith(gemmEntry), "p.json", none), ROTOR_OK);
  EXPECT_TRUE(none.entries[0].mutatedInputs.empty());
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
        BadPlan{"mutated input out of range",
                replaced(planWith(gemmEntry), "\"inputs\": [0, 1],",
                         "\"inputs\": [0, 1], \"mutated_inputs\": [2],"),
                "mutated_inputs[0]: value 2 is outside [0, 1] (2 inputs)"},
        BadPlan{"mutated input twice",
                replaced(planWith(gemmEntry), "\"inputs\": [0, 1],",
                         "\"inputs\": [0, 1], \"mutated_inputs\": [1, 1],"),
                "mutated_inputs: lists an input twice"},
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

/// A decode-like step with two states: s (B, N) updated in place, the way
/// the compiler writes a cache row (a view of the input, then a product
/// with beta = 1 writing through it: s' = s + x·wᵀ), and p (B, N) replaced
/// by a copy of s taken before the update (a state output in a buffer of
/// its own, which the session copies into the state's). Non-state outputs:
/// y = x·wᵀ and z = 0 (a fill after a free, so that a capture reuses memory
/// it released). x is (B, K), w (N, K) a weight; outputs y, p, s, z.
const char *stepEntry = R"(
  "name": "rotor_entry_step", "num_inputs": 4,
  "symbols": [["dim", 0, 0], ["dim", 0, 1], ["dim", 1, 0], ["const", 0],
              ["const", 1], ["const", 4], ["mul", 2, 5]],
  "values": [["f32", [0, 1]], ["f32", [2, 1]], ["f32", [0, 2]],
             ["f32", [0, 2]], ["f32", [0, 2]], ["f32", [0, 2]],
             ["f32", [0, 2]], ["f32", [0, 2]]],
  "inputs": [0, 1, 2, 3], "outputs": [4, 6, 5, 7],
  "steps": [
    {"op": "copy2d", "src": 2, "dst": 6, "src_offset": 3, "dst_offset": 3,
     "src_pitch": 6, "dst_pitch": 6, "width": 6, "height": 0},
    {"op": "gemm", "a": 0, "b": 1, "c": 4, "m": 0, "n": 2, "k": 1, "batch": 4,
     "offset_a": 3, "offset_b": 3, "offset_c": 3, "stride_a": 3,
     "stride_b": 3, "stride_c": 3, "trans_a": false, "trans_b": true,
     "alpha": 1.0, "beta": 0.0},
    {"op": "view", "src": 2, "dst": 5, "offset": 3},
    {"op": "gemm", "a": 0, "b": 1, "c": 5, "m": 0, "n": 2, "k": 1, "batch": 4,
     "offset_a": 3, "offset_b": 3, "offset_c": 3, "stride_a": 3,
     "stride_b": 3, "stride_c": 3, "trans_a": false, "trans_b": true,
     "alpha": 1.0, "beta": 1.0},
    {"op": "free", "values": [0, 3]},
    {"op": "fill", "dst": 7}])";

/// A state that grows: h' = concat(h, x·wᵀ) on the last axis, for h (B, L),
/// x (B, K), w (N, K) a weight; outputs y = x·wᵀ and h (B, L + N).
const char *growEntry = R"(
  "name": "rotor_entry_grow", "num_inputs": 3,
  "symbols": [["dim", 0, 0], ["dim", 0, 1], ["dim", 1, 0], ["dim", 2, 1],
              ["const", 0], ["const", 1], ["const", 4], ["add", 3, 2],
              ["mul", 3, 6], ["mul", 2, 6], ["mul", 7, 6]],
  "values": [["f32", [0, 1]], ["f32", [2, 1]], ["f32", [0, 3]],
             ["f32", [0, 2]], ["f32", [0, 7]]],
  "inputs": [0, 1, 2], "outputs": [3, 4],
  "steps": [
    {"op": "gemm", "a": 0, "b": 1, "c": 3, "m": 0, "n": 2, "k": 1, "batch": 5,
     "offset_a": 4, "offset_b": 4, "offset_c": 4, "stride_a": 4,
     "stride_b": 4, "stride_c": 4, "trans_a": false, "trans_b": true,
     "alpha": 1.0, "beta": 0.0},
    {"op": "copy2d", "src": 2, "dst": 4, "src_offset": 4, "dst_offset": 4,
     "src_pitch": 8, "dst_pitch": 10, "width": 8, "height": 0},
    {"op": "copy2d", "src": 3, "dst": 4, "src_offset": 4, "dst_offset": 8,
     "src_pitch": 9, "dst_pitch": 10, "width": 9, "height": 0}])";

TEST(CudaPlan, AcceptsWritesThroughAViewOfAnInput) {
  // The in-place cache update: a product and a launch writing value 5, a
  // view of input value 2.
  std::string entry = replaced(
      stepEntry, R"({"op": "free", "values": [0, 3]},)",
      R"({"op": "launch", "kernel": 0, "grid": [4, 4, 4], "ptrs": [0, 5],
          "dims": [0, 6], "floats": [], "writes": [5]},
         {"op": "free", "values": [0, 3]},)");
  Plan plan;
  ASSERT_EQ(parsePlan(planWith(entry, R"(["rotor_k0"])"), "p.json", plan),
            ROTOR_OK)
      << rotor_last_error();
  const PlanEntry &e = plan.entries[0];
  ASSERT_EQ(e.steps.size(), 7u);
  EXPECT_EQ(e.steps[2].kind, StepKind::View);
  EXPECT_EQ(e.steps[2].src, e.inputs[2]);
  EXPECT_EQ(e.steps[2].dst, 5);
  EXPECT_EQ(e.steps[3].kind, StepKind::Gemm);
  EXPECT_EQ(e.steps[3].c, 5);
  EXPECT_EQ(e.steps[3].beta, 1.0f);
  EXPECT_EQ(e.steps[4].kind, StepKind::Launch);
  EXPECT_EQ(e.steps[4].writes, std::vector<int>{5});
  EXPECT_EQ(e.outputs[2], 5);
}

/// w of the session artifact, (sessionN, sessionK).
constexpr int64_t sessionN = 4, sessionK = 5;
float sessionWeight(int64_t j, int64_t c) {
  return float(std::cos(0.3 * double(j * sessionK + c)));
}

/// Writes a CUDA artifact with entries step and grow and w in its weights
/// file.
std::string makeCudaSessionArtifact(const TempDir &root) {
  std::string dir = root.file("session.rotor");
  ::mkdir(dir.c_str(), 0755);
  writeFile(dir + "/plan.json",
            R"({"format": "rotor-cuda-plan", "format_version": 1,
                "source": "kernels.cu", "include_dir": "include",
                "kernels": [], "entries": [{)" +
                std::string(stepEntry) + "}, {" + growEntry + "}]}");
  writeFile(dir + "/kernels.cu", "");
  const char *matrix = R"("dtype": "f32", "shape": [null, null]})";
  auto arg = [&](const char *name) {
    return std::string(R"({"name": ")") + name + R"(", )" + matrix;
  };
  writeFile(dir + "/manifest.json",
            R"({"format": "rotor-artifact", "format_version": 1,
    "target": "cuda", "library": "plan.json",
    "weights": "weights.safetensors", "entries": [
    {"name": "step", "symbol": "rotor_entry_step",
     "inputs": [)" +
                arg("x") + ", " + arg("w") + ", " + arg("s") + ", " + arg("p") +
                R"(],
     "outputs": [)" +
                arg("y") + ", " + arg("p") + ", " + arg("s") + ", " + arg("z") +
                R"(]},
    {"name": "grow", "symbol": "rotor_entry_grow",
     "inputs": [)" +
                arg("x") + ", " + arg("w") + ", " + arg("h") + R"(],
     "outputs": [)" +
                arg("y") + ", " + arg("h") + "]}]}");
  std::vector<double> w;
  for (int64_t j = 0; j < sessionN; ++j)
    for (int64_t c = 0; c < sessionK; ++c)
      w.push_back(sessionWeight(j, c));
  TensorPtr weight = makeTensor(ROTOR_F32, {sessionN, sessionK}, w);
  std::vector<io::NamedTensor> named = {{"w", weight.get()}};
  if (io::writeSafetensors(dir + "/weights.safetensors", named) != ROTOR_OK)
    throw std::runtime_error(rotor_last_error());
  return dir;
}

/// x·wᵀ for x (rows, sessionK) in f64.
std::vector<double> timesWeight(const std::vector<double> &x) {
  size_t rows = x.size() / sessionK;
  std::vector<double> y(rows * sessionN, 0.0);
  for (size_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < sessionN; ++j)
      for (int64_t c = 0; c < sessionK; ++c)
        y[i * sessionN + j] += x[i * sessionK + c] * sessionWeight(j, c);
  return y;
}

/// Seeded inputs: x of call `call`, (rows, sessionK).
std::vector<double> sessionInput(int call, int64_t rows) {
  std::vector<double> x;
  for (int64_t e = 0; e < rows * sessionK; ++e)
    x.push_back(std::sin(0.7 * double(e) + 1.3 * call));
  return x;
}

void expectNear(const std::vector<double> &got, const std::vector<double> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t e = 0; e < got.size(); ++e)
    EXPECT_NEAR(got[e], want[e], 1e-4) << what << " element " << e;
}

/// Sets ROTOR_CUDA_GRAPHS for its scope.
class GraphsEnv {
public:
  explicit GraphsEnv(const char *value) {
    ::setenv("ROTOR_CUDA_GRAPHS", value, 1);
  }
  ~GraphsEnv() { ::unsetenv("ROTOR_CUDA_GRAPHS"); }
};

/// Runs `calls` calls of a step session on (rows, ...) inputs from state
/// s = `s`, p = 0, checking every output and state against f64 arithmetic;
/// returns every y and s, in order.
std::vector<std::vector<double>> runSteps(rotor_session *session, int64_t rows,
                                          std::vector<double> s, int first,
                                          int calls) {
  std::vector<std::vector<double>> seen;
  TensorPtr s0 = makeTensor(ROTOR_F32, {rows, sessionN}, s);
  TensorPtr p0 = makeTensor(ROTOR_F32, {rows, sessionN},
                            std::vector<double>(rows * sessionN, 0.0));
  EXPECT_EQ(rotor_session_set_state(session, "s", s0.get()), ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(rotor_session_set_state(session, "p", p0.get()), ROTOR_OK)
      << rotor_last_error();
  for (int call = first; call < first + calls; ++call) {
    std::string what = "call " + std::to_string(call);
    std::vector<double> xv = sessionInput(call, rows);
    TensorPtr x = makeTensor(ROTOR_F32, {rows, sessionK}, xv);
    const char *names[] = {"x"};
    const rotor_tensor *tensors[] = {x.get()};
    rotor_tensor *out[2] = {};
    EXPECT_EQ(rotor_session_call(session, names, tensors, 1, out, 2), ROTOR_OK)
        << what << ": " << rotor_last_error();
    TensorPtr y(out[0]), z(out[1]);
    if (!y || !z)
      return seen;
    std::vector<double> product = timesWeight(xv);
    expectNear(tensorValues(y.get()), product, what + " y");
    EXPECT_EQ(tensorValues(z.get()), std::vector<double>(rows * sessionN, 0.0))
        << what << " z";
    rotor_tensor *state = nullptr;
    EXPECT_EQ(rotor_session_get_state(session, "p", &state), ROTOR_OK);
    TensorPtr p(state);
    expectNear(tensorValues(p.get()), s, what + " p");
    for (size_t e = 0; e < s.size(); ++e)
      s[e] += product[e];
    EXPECT_EQ(rotor_session_get_state(session, "s", &state), ROTOR_OK);
    TensorPtr sv(state);
    expectNear(tensorValues(sv.get()), s, what + " s");
    seen.push_back(tensorValues(y.get()));
    seen.push_back(tensorValues(sv.get()));
  }
  return seen;
}

TEST(CudaBackend, SessionReplaysAGraphOrSkipsWithoutAGpu) {
  TempDir root;
  std::string dir = makeCudaSessionArtifact(root);
  rotor_artifact *raw = nullptr;
  rotor_status status =
      rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CUDA, &raw);
  if (status == ROTOR_ERR_UNSUPPORTED)
    GTEST_SKIP() << "no CUDA device here: " << rotor_last_error();
  ASSERT_EQ(status, ROTOR_OK) << rotor_last_error();
  ArtifactPtr artifact(raw);
  const char *states[] = {"s", "p"};
  std::vector<double> start = {1, -2, 3, 0.5, 0, 7, -1, 2};

  // Call 1 runs plainly, call 2 captures and launches the graph, calls 3
  // to 5 replay it.
  rotor_session *rawSession = nullptr;
  ASSERT_EQ(
      rotor_session_create(artifact.get(), "step", states, 2, &rawSession),
      ROTOR_OK)
      << rotor_last_error();
  SessionPtr graphed(rawSession);
  std::vector<std::vector<double>> withGraphs =
      runSteps(graphed.get(), 2, start, 0, 5);
  EXPECT_EQ(rotor_session_graph_replays(graphed.get()), 3u);

  // Without graphs: the same numbers, no replays.
  {
    GraphsEnv off("0");
    ASSERT_EQ(
        rotor_session_create(artifact.get(), "step", states, 2, &rawSession),
        ROTOR_OK)
        << rotor_last_error();
  }
  SessionPtr plain(rawSession);
  std::vector<std::vector<double>> withoutGraphs =
      runSteps(plain.get(), 2, start, 0, 5);
  EXPECT_EQ(rotor_session_graph_replays(plain.get()), 0u);
  ASSERT_EQ(withGraphs.size(), withoutGraphs.size());
  for (size_t k = 0; k < withGraphs.size(); ++k)
    expectNear(withGraphs[k], withoutGraphs[k], "graphs on vs off");

  // Setting the states again with the same shape keeps the graph: one more
  // replay per call.
  runSteps(graphed.get(), 2, start, 5, 2);
  EXPECT_EQ(rotor_session_graph_replays(graphed.get()), 5u);
  // The graph's memory stayed reserved: the other session's states, taken
  // from the pool while the graph lived, are intact after its replays.
  rotor_tensor *value = nullptr;
  ASSERT_EQ(rotor_session_get_state(plain.get(), "s", &value), ROTOR_OK);
  TensorPtr plainState(value);
  expectNear(tensorValues(plainState.get()), withoutGraphs.back(),
             "the other session's s");

  // Another shape invalidates it: a plain call, a capture, then replays.
  std::vector<double> wider = start;
  wider.insert(wider.end(), {4, 4, -4, 4});
  runSteps(graphed.get(), 3, wider, 7, 4);
  EXPECT_EQ(rotor_session_graph_replays(graphed.get()), 7u);
  // And back to the first shape, whose graph was dropped.
  runSteps(graphed.get(), 2, start, 11, 3);
  EXPECT_EQ(rotor_session_graph_replays(graphed.get()), 8u);
}

TEST(CudaBackend, SessionStateThatGrowsIsReplacedOrSkipsWithoutAGpu) {
  TempDir root;
  std::string dir = makeCudaSessionArtifact(root);
  rotor_artifact *raw = nullptr;
  rotor_status status =
      rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CUDA, &raw);
  if (status == ROTOR_ERR_UNSUPPORTED)
    GTEST_SKIP() << "no CUDA device here: " << rotor_last_error();
  ASSERT_EQ(status, ROTOR_OK) << rotor_last_error();
  ArtifactPtr artifact(raw);
  const char *states[] = {"h"};
  rotor_session *rawSession = nullptr;
  ASSERT_EQ(
      rotor_session_create(artifact.get(), "grow", states, 1, &rawSession),
      ROTOR_OK)
      << rotor_last_error();
  SessionPtr session(rawSession);

  // h (2, L) grows by sessionN columns per call: rows of h then x·wᵀ.
  std::vector<std::vector<double>> rows = {{1, 2}, {3, 4}};
  TensorPtr h0 = makeTensor(ROTOR_F32, {2, 2}, {1, 2, 3, 4});
  ASSERT_EQ(rotor_session_set_state(session.get(), "h", h0.get()), ROTOR_OK)
      << rotor_last_error();
  for (int call = 0; call < 4; ++call) {
    std::string what = "call " + std::to_string(call);
    std::vector<double> xv = sessionInput(call, 2);
    TensorPtr x = makeTensor(ROTOR_F32, {2, sessionK}, xv);
    const char *names[] = {"x"};
    const rotor_tensor *tensors[] = {x.get()};
    rotor_tensor *out = nullptr;
    ASSERT_EQ(rotor_session_call(session.get(), names, tensors, 1, &out, 1),
              ROTOR_OK)
        << what << ": " << rotor_last_error();
    TensorPtr y(out);
    std::vector<double> product = timesWeight(xv);
    expectNear(tensorValues(y.get()), product, what + " y");
    for (size_t i = 0; i < 2; ++i)
      rows[i].insert(rows[i].end(), product.begin() + i * sessionN,
                     product.begin() + (i + 1) * sessionN);
    rotor_tensor *state = nullptr;
    ASSERT_EQ(rotor_session_get_state(session.get(), "h", &state), ROTOR_OK);
    TensorPtr h(state);
    int64_t width = int64_t(rows[0].size());
    EXPECT_EQ(tensorShape(h.get()), (std::vector<int64_t>{2, width})) << what;
    std::vector<double> want = rows[0];
    want.insert(want.end(), rows[1].begin(), rows[1].end());
    expectNear(tensorValues(h.get()), want, what + " h");
  }
  // Every call had new shapes: no graph.
  EXPECT_EQ(rotor_session_graph_replays(session.get()), 0u);
}

} // namespace
