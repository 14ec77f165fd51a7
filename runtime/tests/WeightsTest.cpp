//===- WeightsTest.cpp - Tests of weights files and rotor_call_named ------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/io/Safetensors.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

using namespace rotor;
using namespace rotor::io;
using namespace rotor::test;
using ::testing::EndsWith;
using ::testing::HasSubstr;

namespace {

/// Loads `dir`, expecting success.
ArtifactPtr load(const std::string &dir) {
  rotor_artifact *raw = nullptr;
  EXPECT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw), ROTOR_OK)
      << rotor_last_error();
  return ArtifactPtr(raw);
}

/// Loads `dir`, expecting `status`; returns the message.
std::string loadError(const std::string &dir, rotor_status status) {
  rotor_artifact *raw = reinterpret_cast<rotor_artifact *>(1);
  EXPECT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw), status)
      << rotor_last_error();
  EXPECT_EQ(raw, nullptr);
  return rotor_last_error();
}

/// Writes `tensors` to `dir`/weights.safetensors.
void writeWeights(
    const std::string &dir,
    const std::vector<std::pair<std::string, TensorPtr>> &tensors) {
  std::vector<NamedTensor> named;
  for (const auto &[name, tensor] : tensors)
    named.push_back({name, tensor.get()});
  ASSERT_EQ(writeSafetensors(dir + "/weights.safetensors", named), ROTOR_OK)
      << rotor_last_error();
}

/// The argmax of each row of logits f32[1, S, V].
std::vector<int64_t> rowArgmax(const rotor_tensor *logits) {
  std::vector<double> values = tensorValues(logits);
  int64_t vocab = rotor_tensor_shape(logits)[2];
  std::vector<int64_t> out;
  for (size_t row = 0; row * vocab < values.size(); ++row) {
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; ++v)
      if (values[row * vocab + v] > values[row * vocab + best])
        best = v;
    out.push_back(best);
  }
  return out;
}

/// The LM test artifact with its weights file.
class WeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = makeArtifact(root, "lm", lmManifest());
    writeLmWeights(dir);
    artifact = load(dir);
    ASSERT_TRUE(artifact);
    ids = makeTensor(ROTOR_I64, {1, 3}, {1, 5, 9});
  }

  /// Calls `entry` by name, expecting `status`; returns the outputs (all
  /// NULL on failure).
  std::vector<TensorPtr> callNamed(const std::string &entry,
                                   const std::vector<const char *> &names,
                                   const std::vector<const rotor_tensor *> &in,
                                   size_t numOutputs,
                                   rotor_status status = ROTOR_OK) {
    std::vector<rotor_tensor *> raw(numOutputs,
                                    reinterpret_cast<rotor_tensor *>(1));
    EXPECT_EQ(rotor_call_named(artifact.get(), entry.c_str(), names.data(),
                               in.data(), in.size(), raw.data(), raw.size()),
              status)
        << rotor_last_error();
    std::vector<TensorPtr> out;
    for (rotor_tensor *tensor : raw) {
      if (status != ROTOR_OK) {
        EXPECT_EQ(tensor, nullptr);
      }
      out.emplace_back(status == ROTOR_OK ? tensor : nullptr);
    }
    return out;
  }

  TempDir root;
  std::string dir;
  ArtifactPtr artifact;
  TensorPtr ids;
};

} // namespace

TEST_F(WeightsTest, DescribesTheWeightsFile) {
  const rotor_artifact *a = artifact.get();
  ASSERT_NE(rotor_artifact_weights_path(a), nullptr);
  EXPECT_EQ(std::string(rotor_artifact_weights_path(a)),
            dir + "/weights.safetensors");
  ASSERT_EQ(rotor_artifact_num_weights(a), 2u);
  std::vector<std::string> names = {rotor_artifact_weight_name(a, 0),
                                    rotor_artifact_weight_name(a, 1)};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"bias", "table"}));
  EXPECT_EQ(rotor_artifact_weight_name(a, 2), nullptr);

  const rotor_tensor *table = nullptr;
  ASSERT_EQ(rotor_artifact_find_weight(a, "table", &table), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_dtype(table), ROTOR_I64);
  EXPECT_EQ(tensorShape(table), (std::vector<int64_t>{16}));
  EXPECT_EQ(tensorValues(table)[1], 9);
  // writeSafetensors aligns every tensor: the weight views the mapping.
  EXPECT_EQ(rotor_tensor_owns_data(table), 0);

  EXPECT_EQ(rotor_artifact_find_weight(a, "nope", &table), ROTOR_ERR_NOT_FOUND);
  EXPECT_EQ(table, nullptr);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("weights.safetensors' has no tensor named 'nope'"));
  EXPECT_EQ(rotor_artifact_find_weight(a, nullptr, &table),
            ROTOR_ERR_INVALID_ARGUMENT);

  size_t decode;
  ASSERT_EQ(rotor_artifact_find_entry(a, "decode", &decode), ROTOR_OK);
  // input_ids, k_cache.0, v_cache.0, k_cache.1, v_cache.1, table, bias.
  std::vector<int> isWeight;
  for (size_t i = 0; i < 8; ++i)
    isWeight.push_back(rotor_entry_input_is_weight(a, decode, i));
  EXPECT_EQ(isWeight, (std::vector<int>{0, 0, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(rotor_entry_input_is_weight(a, 99, 0), 0);
  EXPECT_EQ(rotor_entry_input_is_weight(nullptr, 0, 0), 0);
}

TEST_F(WeightsTest, ArtifactsWithoutWeights) {
  std::string plain = makeArtifact(root, "plain", standardManifest());
  ArtifactPtr other = load(plain);
  EXPECT_EQ(rotor_artifact_weights_path(other.get()), nullptr);
  EXPECT_EQ(rotor_artifact_num_weights(other.get()), 0u);
  EXPECT_EQ(rotor_artifact_weight_name(other.get(), 0), nullptr);
  const rotor_tensor *weight;
  EXPECT_EQ(rotor_artifact_find_weight(other.get(), "x", &weight),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("has no weights file"));

  // rotor_call_named works without weights when every input is given.
  TensorPtr a = makeTensor(ROTOR_F32, {1, 5}, {1, 2, 3, 4, 5});
  TensorPtr b = makeTensor(ROTOR_F32, {1, 5}, {10, 10, 10, 10, 10});
  std::vector<const char *> names = {"b", "a"};
  std::vector<const rotor_tensor *> tensors = {b.get(), a.get()};
  rotor_tensor *sum = nullptr;
  ASSERT_EQ(rotor_call_named(other.get(), "add", names.data(), tensors.data(),
                             2, &sum, 1),
            ROTOR_OK)
      << rotor_last_error();
  TensorPtr owned(sum);
  EXPECT_EQ(tensorValues(sum), (std::vector<double>{11, 12, 13, 14, 15}));

  EXPECT_EQ(rotor_call_named(other.get(), "add", names.data(), tensors.data(),
                             1, &sum, 1),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_EQ(sum, nullptr);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'add' input 0 ('a') is not given and the "
                        "artifact has no weights file"));
}

TEST_F(WeightsTest, CallNamedBindsOmittedInputsToWeights) {
  std::vector<TensorPtr> out =
      callNamed("forward", {"input_ids"}, {ids.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(tensorShape(out[0].get()), (std::vector<int64_t>{1, 3, 16}));
  // Row s predicts the token after ids[0..s]: table[sum mod 16].
  EXPECT_EQ(rowArgmax(out[0].get()), (std::vector<int64_t>{9, 4, 4}));
  EXPECT_EQ(lmExpected({1, 5, 9}, 1), (std::vector<int64_t>{4}));
  // The bias weight is in the logits.
  EXPECT_FLOAT_EQ(static_cast<float>(tensorValues(out[0].get())[3]),
                  3 / 1024.0f);
}

TEST_F(WeightsTest, GivenInputsOverrideWeights) {
  TensorPtr bias = makeTensor(ROTOR_F32, {16}, std::vector<double>(16, 5));
  // In any order.
  std::vector<TensorPtr> out =
      callNamed("forward", {"bias", "input_ids"}, {bias.get(), ids.get()}, 1);
  ASSERT_TRUE(out[0]);
  std::vector<double> values = tensorValues(out[0].get());
  EXPECT_EQ(values[0], 5);
  EXPECT_EQ(values[9], 6);
  // The weight itself is unchanged.
  out = callNamed("forward", {"input_ids"}, {ids.get()}, 1);
  EXPECT_EQ(tensorValues(out[0].get())[0], 0);
}

TEST_F(WeightsTest, PrefillThenDecodeThroughNamedCalls) {
  std::vector<TensorPtr> prefill =
      callNamed("prefill", {"input_ids"}, {ids.get()}, 5);
  ASSERT_TRUE(prefill[1]);
  EXPECT_EQ(tensorShape(prefill[1].get()), (std::vector<int64_t>{1, 3, 2}));
  TensorPtr next = makeTensor(ROTOR_I64, {1, 1}, {4});
  // prefill returns k0, v0, k1, v1; decode takes them by name.
  std::vector<TensorPtr> decode = callNamed(
      "decode",
      {"v_cache.1", "input_ids", "k_cache.1", "v_cache.0", "k_cache.0"},
      {prefill[4].get(), next.get(), prefill[3].get(), prefill[2].get(),
       prefill[1].get()},
      5);
  ASSERT_TRUE(decode[0]);
  EXPECT_EQ(rowArgmax(decode[0].get()), lmExpected({1, 5, 9, 4}, 1));
  EXPECT_EQ(tensorShape(decode[1].get()), (std::vector<int64_t>{1, 4, 2}));
}

TEST_F(WeightsTest, CallNamedErrors) {
  std::vector<const char *> names = {"input_ids"};
  std::vector<const rotor_tensor *> tensors = {ids.get()};
  rotor_tensor *out = reinterpret_cast<rotor_tensor *>(1);

  callNamed("forward", {"input_ids", "nope"}, {ids.get(), ids.get()}, 1,
            ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' has no input 'nope' (it takes 3 "
                        "inputs (input_ids, table, bias))"));
  callNamed("forward", {"input_ids", "input_ids"}, {ids.get(), ids.get()}, 1,
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 'input_ids' is given twice"));
  callNamed("forward", {nullptr}, {ids.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("names[0] is NULL"));
  callNamed("forward", {"input_ids"}, {nullptr}, 1, ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 0 ('input_ids'): tensor is "
                        "NULL"));
  callNamed("forward", {}, {}, 1, ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 0 ('input_ids') is not given "
                        "and weights file '" +
                        dir +
                        "/weights.safetensors' has no tensor named "
                        "'input_ids'"));
  callNamed("prefill", {"input_ids"}, {ids.get()}, 1,
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'prefill' returns 5 outputs (logits, "
                        "k_cache.0, v_cache.0, k_cache.1, v_cache.1) but room "
                        "for 1 was given"));
  TensorPtr table = makeTensor(ROTOR_F32, {16}, std::vector<double>(16, 0));
  callNamed("forward", {"input_ids", "table"}, {ids.get(), table.get()}, 1,
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 1 ('table'): dtype is f32 but "
                        "the artifact expects i64"));
  TensorPtr wide = makeTensor(ROTOR_I64, {2, 1}, {1, 2});
  callNamed("forward", {"input_ids"}, {wide.get()}, 1,
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 0 ('input_ids'): dimension 0 is "
                        "2 but the artifact was compiled for 1"));
  callNamed("nope", {"input_ids"}, {ids.get()}, 1, ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("unknown entry 'nope'"));

  EXPECT_EQ(rotor_call_named(artifact.get(), "forward", nullptr, tensors.data(),
                             1, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(rotor_call_named(artifact.get(), "forward", names.data(), nullptr,
                             1, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_call_named(artifact.get(), "forward", names.data(),
                             tensors.data(), 1, nullptr, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_call_named(nullptr, "forward", names.data(), tensors.data(),
                             1, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_call_named(artifact.get(), nullptr, names.data(),
                             tensors.data(), 1, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
}

TEST(Weights, LoadErrorsNameTheFileAndTensor) {
  TempDir root;
  std::string dir = makeArtifact(root, "lm", lmManifest());
  EXPECT_THAT(loadError(dir, ROTOR_ERR_NOT_FOUND),
              HasSubstr("weights file '" + dir +
                        "/weights.safetensors' named by the manifest (field "
                        "'weights') does not exist"));

  std::filesystem::create_directory(dir + "/weights.safetensors");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_IO), HasSubstr("is a directory"));
  std::filesystem::remove(dir + "/weights.safetensors");

  writeFile(dir + "/weights.safetensors", "");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_FORMAT),
              HasSubstr(dir + "/weights.safetensors: truncated"));
  writeFile(dir + "/weights.safetensors", "garbage, not safetensors");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_FORMAT),
              HasSubstr(dir + "/weights.safetensors: header length"));

  // A weight must fit every input named like it.
  std::vector<std::pair<std::string, TensorPtr>> weights;
  weights.emplace_back("table",
                       makeTensor(ROTOR_F32, {16}, std::vector<double>(16, 0)));
  writeWeights(dir, weights);
  EXPECT_THAT(loadError(dir, ROTOR_ERR_FORMAT),
              HasSubstr("weights.safetensors: tensor 'table' does not fit "
                        "input 1 of entry 'prefill': its dtype is F32 but the "
                        "manifest declares i64"));
  weights.clear();
  weights.emplace_back(
      "bias", makeTensor(ROTOR_F32, {2, 8}, std::vector<double>(16, 0)));
  writeWeights(dir, weights);
  EXPECT_THAT(loadError(dir, ROTOR_ERR_FORMAT),
              HasSubstr("tensor 'bias' does not fit input 2 of entry "
                        "'prefill': its shape is [2, 8] but the manifest "
                        "declares [16]"));

  // A tensor of a dtype the runtime lacks is an error if an input is named
  // after it, and skipped otherwise.
  auto writeU8 = [&](const std::string &name) {
    std::string header = R"({")" + name +
                         R"(":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                         R"("unused":{"dtype":"F32","shape":[],)"
                         R"("data_offsets":[0,4]}})";
    std::string image(8, '\0');
    image[0] = static_cast<char>(header.size());
    writeFile(dir + "/weights.safetensors", image + header + "abcdab");
  };
  writeU8("bias");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_UNSUPPORTED),
              HasSubstr("weights.safetensors: tensor 'bias' (input 2 of entry "
                        "'prefill') has dtype U8, which the runtime does not "
                        "support"));
  writeU8("flags");
  {
    ArtifactPtr artifact = load(dir);
    ASSERT_TRUE(artifact);
    ASSERT_EQ(rotor_artifact_num_weights(artifact.get()), 1u);
    EXPECT_STREQ(rotor_artifact_weight_name(artifact.get(), 0), "unused");
  }

  // Weights that no entry uses are fine; missing ones only fail calls.
  weights.clear();
  weights.emplace_back("unused", makeTensor(ROTOR_F64, {1}, {1}));
  writeWeights(dir, weights);
  ArtifactPtr artifact = load(dir);
  ASSERT_TRUE(artifact);
  EXPECT_EQ(rotor_artifact_num_weights(artifact.get()), 1u);
  TensorPtr ids = makeTensor(ROTOR_I64, {1, 1}, {1});
  const char *name = "input_ids";
  const rotor_tensor *input = ids.get();
  rotor_tensor *out = nullptr;
  EXPECT_EQ(
      rotor_call_named(artifact.get(), "forward", &name, &input, 1, &out, 1),
      ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("entry 'forward' input 1 ('table') is not given and "
                        "weights file '" +
                        dir +
                        "/weights.safetensors' has no tensor named "
                        "'table'"));
}

TEST(Weights, MisalignedWeightsAreCopiedOnceAtLoad) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", R"({"format": "rotor-artifact",
    "format_version": 1, "target": "cpu", "library": "module.so",
    "weights": "w.safetensors",
    "entries": [{"name": "alignment", "symbol": "rotor_entry_alignment",
      "inputs": [{"name": "x", "dtype": "f64", "shape": [null]}],
      "outputs": [{"name": "aligned", "dtype": "i64", "shape": []}]}]})");
  // A header of 8k + 3 bytes puts the f64 data off its alignment.
  std::string header =
      R"({"x":{"dtype":"F64","shape":[3],"data_offsets":[0,24]}})";
  while (header.size() % 8 != 3)
    header += ' ';
  std::string image(8, '\0');
  image[0] = static_cast<char>(header.size());
  double values[3] = {1.5, -2, 3.25};
  image += header;
  image.append(reinterpret_cast<const char *>(values), sizeof(values));
  writeFile(dir + "/w.safetensors", image);

  ArtifactPtr artifact = load(dir);
  ASSERT_TRUE(artifact);
  const rotor_tensor *x = nullptr;
  ASSERT_EQ(rotor_artifact_find_weight(artifact.get(), "x", &x), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_owns_data(x), 1);
  EXPECT_EQ(tensorValues(x), (std::vector<double>{1.5, -2, 3.25}));
  rotor_tensor *out = nullptr;
  ASSERT_EQ(rotor_call_named(artifact.get(), "alignment", nullptr, nullptr, 0,
                             &out, 1),
            ROTOR_OK)
      << rotor_last_error();
  TensorPtr aligned(out);
  EXPECT_EQ(tensorValues(out), (std::vector<double>{1}));
}

TEST(Weights, DamagedWeightsFilesFailCleanly) {
  TempDir root;
  std::string dir = makeArtifact(root, "lm", lmManifest());
  writeLmWeights(dir);
  std::string good = readFileBytes(dir + "/weights.safetensors");
  for (size_t n = 0; n < good.size(); n += 5) {
    writeFile(dir + "/weights.safetensors", good.substr(0, n));
    rotor_artifact *raw = nullptr;
    rotor_status status =
        rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw);
    EXPECT_NE(status, ROTOR_OK) << n;
    EXPECT_EQ(raw, nullptr);
    EXPECT_THAT(rotor_last_error(), HasSubstr("weights.safetensors")) << n;

    std::string mutated = good;
    mutated[n] = static_cast<char>(mutated[n] ^ 0x5a);
    writeFile(dir + "/weights.safetensors", mutated);
    status = rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw);
    ArtifactPtr owned(raw);
    if (status != ROTOR_OK) {
      EXPECT_EQ(raw, nullptr);
      EXPECT_THAT(rotor_last_error(), HasSubstr("weights.safetensors")) << n;
    }
  }
}
