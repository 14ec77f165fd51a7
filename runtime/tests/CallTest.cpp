//===- CallTest.cpp - Tests of rotor_call on the test artifact ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dlfcn.h>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// Loads the standard test artifact and reads the test library's buffer
/// counters.
class CallTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = makeArtifact(root, "art", standardManifest());
    rotor_artifact *raw = nullptr;
    ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw),
              ROTOR_OK)
        << rotor_last_error();
    artifact.reset(raw);
    // The runtime loaded module.so; find the same copy.
    library = ::dlopen((dir + "/module.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(library, nullptr);
    liveBuffers = reinterpret_cast<long (*)()>(
        ::dlsym(library, "rotor_test_live_buffers"));
    freeCalls =
        reinterpret_cast<long (*)()>(::dlsym(library, "rotor_test_free_calls"));
    ASSERT_TRUE(liveBuffers && freeCalls);
  }

  void TearDown() override {
    if (library) {
      EXPECT_EQ(liveBuffers(), 0) << "an output buffer was not released";
      ::dlclose(library);
    }
  }

  /// Calls `entry`, expecting success; returns the outputs.
  std::vector<TensorPtr> call(const std::string &entry,
                              const std::vector<const rotor_tensor *> &inputs,
                              size_t numOutputs) {
    std::vector<rotor_tensor *> raw(numOutputs, nullptr);
    rotor_status status =
        rotor_call(artifact.get(), entry.c_str(), inputs.data(), inputs.size(),
                   raw.data(), raw.size());
    EXPECT_EQ(status, ROTOR_OK) << rotor_last_error();
    std::vector<TensorPtr> out;
    for (rotor_tensor *tensor : raw)
      out.emplace_back(tensor);
    return out;
  }

  /// Calls `entry`, expecting `status`; returns the message.
  std::string callError(const std::string &entry,
                        const std::vector<const rotor_tensor *> &inputs,
                        size_t numOutputs, rotor_status expected) {
    std::vector<rotor_tensor *> raw(numOutputs,
                                    reinterpret_cast<rotor_tensor *>(1));
    rotor_status status =
        rotor_call(artifact.get(), entry.c_str(), inputs.data(), inputs.size(),
                   raw.data(), raw.size());
    EXPECT_EQ(status, expected) << rotor_last_error();
    for (rotor_tensor *tensor : raw)
      EXPECT_EQ(tensor, nullptr);
    return rotor_last_error();
  }

  TempDir root;
  std::string dir;
  ArtifactPtr artifact;
  void *library = nullptr;
  long (*liveBuffers)() = nullptr;
  long (*freeCalls)() = nullptr;
};

} // namespace

TEST_F(CallTest, AddCopiesPaddedOutput) {
  TensorPtr a = makeTensor(ROTOR_F32, {3, 5},
                           {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  TensorPtr b = makeTensor(ROTOR_F32, {3, 5}, std::vector<double>(15, 0.5));
  std::vector<TensorPtr> out = call("add", {a.get(), b.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(rotor_tensor_dtype(out[0].get()), ROTOR_F32);
  EXPECT_EQ(tensorShape(out[0].get()), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(rotor_tensor_owns_data(out[0].get()), 1);
  std::vector<double> expected;
  for (int i = 0; i < 15; ++i)
    expected.push_back(i + 0.5);
  EXPECT_EQ(tensorValues(out[0].get()), expected);
  EXPECT_EQ(freeCalls(), 1);
}

TEST_F(CallTest, DynamicRowsMayBeZero) {
  TensorPtr a = makeTensor(ROTOR_F32, {0, 5}, {});
  std::vector<TensorPtr> out = call("add", {a.get(), a.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(tensorShape(out[0].get()), (std::vector<int64_t>{0, 5}));
}

TEST_F(CallTest, RankZeroOutputWithOffset) {
  TensorPtr x = makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 1.5));
  std::vector<TensorPtr> out = call("sum", {x.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(rotor_tensor_rank(out[0].get()), 0u);
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{15.0}));
}

TEST_F(CallTest, ColumnMajorOutput) {
  TensorPtr x = makeTensor(ROTOR_F64, {2, 3}, {1, 2, 3, 4, 5, 6});
  std::vector<TensorPtr> out = call("transpose", {x.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(tensorShape(out[0].get()), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(tensorValues(out[0].get()),
            (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST_F(CallTest, SharedBufferIsReleasedOnce) {
  TensorPtr x = makeTensor(ROTOR_I32, {5}, {10, 11, 12, 13, 14});
  std::vector<TensorPtr> out = call("split", {x.get()}, 2);
  ASSERT_TRUE(out[0] && out[1]);
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{10, 11}));
  EXPECT_EQ(tensorValues(out[1].get()), (std::vector<double>{14, 13, 12}));
  EXPECT_EQ(freeCalls(), 1);
}

TEST_F(CallTest, ReturnedInputIsCopiedNotFreed) {
  TensorPtr x = makeTensor(ROTOR_I64, {3}, {7, -8, 9});
  std::vector<TensorPtr> out = call("identity", {x.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_NE(rotor_tensor_data(out[0].get()), rotor_tensor_data(x.get()));
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{7, -8, 9}));
  EXPECT_EQ(freeCalls(), 0);
}

TEST_F(CallTest, WrappedInputsWork) {
  int64_t values[3] = {1, 2, 3};
  int64_t shape[] = {3};
  rotor_tensor *wrapped = nullptr;
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_I64, 1, shape, values, &wrapped), ROTOR_OK);
  TensorPtr owner(wrapped);
  std::vector<TensorPtr> out = call("identity", {wrapped}, 1);
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{1, 2, 3}));
}

TEST_F(CallTest, BF16) {
  TensorPtr x = makeTensor(ROTOR_BF16, {3}, {1.5, -2, 0});
  std::vector<TensorPtr> out = call("negate", {x.get()}, 1);
  ASSERT_TRUE(out[0]);
  EXPECT_EQ(rotor_tensor_dtype(out[0].get()), ROTOR_BF16);
  std::vector<double> values = tensorValues(out[0].get());
  EXPECT_EQ(values[0], -1.5);
  EXPECT_EQ(values[1], 2.0);
  EXPECT_TRUE(values[2] == 0.0 && std::signbit(values[2]));
}

TEST_F(CallTest, MisalignedInputsAreCopiedToAlignedMemory) {
  alignas(8) char storage[8 * 5 + 4];
  double values[4] = {1, 2, 3, 4};
  std::memcpy(storage + 4, values, sizeof(values));
  int64_t shape[] = {4};
  rotor_tensor *misaligned = nullptr;
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_F64, 1, shape, storage + 4, &misaligned),
            ROTOR_OK);
  TensorPtr owner(misaligned);
  std::vector<TensorPtr> out = call("alignment", {misaligned}, 1);
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{1}));
}

TEST_F(CallTest, WrongDtype) {
  TensorPtr a = makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 0));
  TensorPtr b = makeTensor(ROTOR_F64, {2, 5}, std::vector<double>(10, 0));
  EXPECT_THAT(
      callError("add", {a.get(), b.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      HasSubstr("entry 'add' input 1 ('b'): dtype is f64 but the "
                "artifact expects f32"));
}

TEST_F(CallTest, WrongRank) {
  TensorPtr a = makeTensor(ROTOR_F32, {10}, std::vector<double>(10, 0));
  EXPECT_THAT(
      callError("add", {a.get(), a.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      HasSubstr("entry 'add' input 0 ('a'): rank is 1 but the "
                "artifact expects rank 2 (shape [?, 5])"));
}

TEST_F(CallTest, StaticDimensionMismatch) {
  TensorPtr a = makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 0));
  TensorPtr b = makeTensor(ROTOR_F32, {2, 4}, std::vector<double>(8, 0));
  EXPECT_THAT(
      callError("add", {a.get(), b.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      HasSubstr("entry 'add' input 1 ('b'): dimension 1 is 4 but the "
                "artifact was compiled for 5"));
}

TEST_F(CallTest, UnknownEntry) {
  EXPECT_THAT(callError("forward", {}, 1, ROTOR_ERR_NOT_FOUND),
              HasSubstr("unknown entry 'forward' (artifact '" + dir +
                        "' has: add, sum, transpose, split, identity, "
                        "negate, misbehave, alignment)"));
}

TEST_F(CallTest, WrongArgumentCounts) {
  TensorPtr a = makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 0));
  EXPECT_THAT(callError("add", {a.get()}, 1, ROTOR_ERR_INVALID_ARGUMENT),
              HasSubstr("entry 'add' takes 2 inputs (a, b) but 1 was given"));
  EXPECT_THAT(
      callError("add", {a.get(), a.get()}, 2, ROTOR_ERR_INVALID_ARGUMENT),
      HasSubstr("entry 'add' returns 1 output (sum) but room for 2 "
                "was given"));
  EXPECT_THAT(
      callError("add", {a.get(), nullptr}, 1, ROTOR_ERR_INVALID_ARGUMENT),
      HasSubstr("entry 'add' input 1 ('b'): tensor is NULL"));
  rotor_tensor *out;
  EXPECT_EQ(rotor_call(artifact.get(), "sum", nullptr, 1, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_call(artifact.get(), "sum", nullptr, 0, nullptr, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_call(nullptr, "sum", nullptr, 0, &out, 1),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
}

TEST_F(CallTest, OutputContradictingTheManifestIsRejectedAndReleased) {
  TensorPtr x = makeTensor(ROTOR_F32, {4}, {1, 2, 3, 4});
  EXPECT_THAT(callError("misbehave", {x.get()}, 1, ROTOR_ERR_BACKEND),
              HasSubstr("entry 'misbehave' output 0 ('y'): the entry "
                        "returned size 3 for dimension 0 but the manifest "
                        "declares 4"));
  EXPECT_EQ(freeCalls(), 1);
}

TEST_F(CallTest, OutputsOutliveTheArtifact) {
  TensorPtr x = makeTensor(ROTOR_F64, {1, 2}, {3, 4});
  std::vector<TensorPtr> out = call("transpose", {x.get()}, 1);
  long (*live)() = liveBuffers;
  EXPECT_EQ(live(), 0);
  artifact.reset();
  EXPECT_EQ(tensorValues(out[0].get()), (std::vector<double>{3, 4}));
}
