//===- TensorTest.cpp - Tests of tensors, dtypes and devices --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace rotor;
using ::testing::HasSubstr;

TEST(DType, SizesNamesAndParsing) {
  struct Case {
    rotor_dtype dtype;
    const char *name;
    size_t size;
  };
  for (Case c : {Case{ROTOR_F32, "f32", 4}, Case{ROTOR_F64, "f64", 8},
                 Case{ROTOR_BF16, "bf16", 2}, Case{ROTOR_F16, "f16", 2},
                 Case{ROTOR_I32, "i32", 4}, Case{ROTOR_I64, "i64", 8}}) {
    EXPECT_EQ(rotor_dtype_size(c.dtype), c.size);
    EXPECT_STREQ(rotor_dtype_name(c.dtype), c.name);
    rotor_dtype parsed;
    ASSERT_EQ(rotor_dtype_from_name(c.name, &parsed), ROTOR_OK);
    EXPECT_EQ(parsed, c.dtype);
  }
  rotor_dtype invalid = static_cast<rotor_dtype>(42);
  EXPECT_EQ(rotor_dtype_size(invalid), 0u);
  EXPECT_EQ(rotor_dtype_name(invalid), nullptr);
  rotor_dtype parsed;
  EXPECT_EQ(rotor_dtype_from_name("f8", &parsed), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("unknown dtype 'f8'"));
  EXPECT_EQ(rotor_dtype_from_name(nullptr, &parsed),
            ROTOR_ERR_INVALID_ARGUMENT);
}

TEST(Device, NamesAndParsing) {
  EXPECT_STREQ(rotor_device_name(ROTOR_DEVICE_CPU), "cpu");
  EXPECT_STREQ(rotor_device_name(ROTOR_DEVICE_CUDA), "cuda");
  rotor_device device;
  ASSERT_EQ(rotor_device_from_name("cuda", &device), ROTOR_OK);
  EXPECT_EQ(device, ROTOR_DEVICE_CUDA);
  EXPECT_EQ(rotor_device_from_name("tpu", &device), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("unknown device 'tpu' (expected 'cpu' or 'cuda')"));
}

TEST(Status, NamesAndLastError) {
  EXPECT_STREQ(rotor_status_name(ROTOR_OK), "ROTOR_OK");
  EXPECT_STREQ(rotor_status_name(ROTOR_ERR_UNSUPPORTED),
               "ROTOR_ERR_UNSUPPORTED");
  rotor_dtype parsed;
  rotor_dtype_from_name("nope", &parsed);
  EXPECT_STRNE(rotor_last_error(), "");
  // Success leaves the message alone; rotor_clear_error resets it.
  ASSERT_EQ(rotor_dtype_from_name("f32", &parsed), ROTOR_OK);
  EXPECT_STRNE(rotor_last_error(), "");
  rotor_clear_error();
  EXPECT_STREQ(rotor_last_error(), "");
}

TEST(Tensor, CreateIsZeroedAndAligned) {
  int64_t shape[] = {3, 5};
  rotor_tensor *tensor = nullptr;
  ASSERT_EQ(rotor_tensor_create(ROTOR_F64, 2, shape, &tensor), ROTOR_OK);
  TensorPtr owner(tensor);
  EXPECT_EQ(rotor_tensor_dtype(tensor), ROTOR_F64);
  EXPECT_EQ(rotor_tensor_rank(tensor), 2u);
  EXPECT_EQ(rotor_tensor_shape(tensor)[0], 3);
  EXPECT_EQ(rotor_tensor_shape(tensor)[1], 5);
  EXPECT_EQ(rotor_tensor_numel(tensor), 15);
  EXPECT_EQ(rotor_tensor_nbytes(tensor), 120u);
  EXPECT_EQ(rotor_tensor_owns_data(tensor), 1);
  void *data = rotor_tensor_data(tensor);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 64, 0u);
  const char *bytes = static_cast<const char *>(data);
  for (size_t i = 0; i < 120; ++i)
    ASSERT_EQ(bytes[i], 0);
  EXPECT_EQ(tensorShape(tensor), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(formatShape(tensorShape(tensor)), "3x5");
  EXPECT_EQ(formatShapeList(tensorShape(tensor)), "[3, 5]");
}

TEST(Tensor, ScalarsAndEmptyTensors) {
  rotor_tensor *scalar = nullptr;
  ASSERT_EQ(rotor_tensor_create(ROTOR_I32, 0, nullptr, &scalar), ROTOR_OK);
  TensorPtr owner(scalar);
  EXPECT_EQ(rotor_tensor_rank(scalar), 0u);
  EXPECT_NE(rotor_tensor_shape(scalar), nullptr);
  EXPECT_EQ(rotor_tensor_numel(scalar), 1);
  EXPECT_EQ(rotor_tensor_nbytes(scalar), 4u);

  int64_t shape[] = {4, 0};
  rotor_tensor *empty = nullptr;
  ASSERT_EQ(rotor_tensor_create(ROTOR_BF16, 2, shape, &empty), ROTOR_OK);
  TensorPtr emptyOwner(empty);
  EXPECT_EQ(rotor_tensor_numel(empty), 0);
  EXPECT_EQ(rotor_tensor_nbytes(empty), 0u);
  EXPECT_NE(rotor_tensor_data(empty), nullptr);
  EXPECT_EQ(formatShape({}), "");
  EXPECT_EQ(formatShapeList({}), "[]");
}

TEST(Tensor, WrapDoesNotOwn) {
  float values[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[] = {2, 3};
  rotor_tensor *tensor = nullptr;
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_F32, 2, shape, values, &tensor), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_data(tensor), values);
  EXPECT_EQ(rotor_tensor_owns_data(tensor), 0);
  rotor_tensor_free(tensor);
  EXPECT_EQ(values[5], 6); // Still ours.

  int64_t emptyShape[] = {0};
  ASSERT_EQ(rotor_tensor_wrap(ROTOR_F32, 1, emptyShape, nullptr, &tensor),
            ROTOR_OK);
  rotor_tensor_free(tensor);
  EXPECT_EQ(rotor_tensor_wrap(ROTOR_F32, 2, shape, nullptr, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tensor, nullptr);
  EXPECT_THAT(rotor_last_error(), HasSubstr("data is NULL"));
}

TEST(Tensor, RejectsInvalidArguments) {
  rotor_tensor *tensor = reinterpret_cast<rotor_tensor *>(1);
  int64_t negative[] = {2, -1};
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, 2, negative, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tensor, nullptr);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("dimension 1 has negative size -1"));
  int64_t shape[ROTOR_MAX_RANK + 1] = {};
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, ROTOR_MAX_RANK + 1, shape, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("exceeds the maximum rank 32"));
  EXPECT_EQ(
      rotor_tensor_create(static_cast<rotor_dtype>(9), 0, nullptr, &tensor),
      ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("invalid dtype value 9"));
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, 2, nullptr, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  int64_t huge[] = {INT64_MAX, INT64_MAX};
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, 2, huge, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("is too large"));
  int64_t big[] = {int64_t(1) << 59};
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, 1, big, &tensor),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_tensor_create(ROTOR_F32, 0, nullptr, nullptr),
            ROTOR_ERR_INVALID_ARGUMENT);
}

TEST(Tensor, ReportsAllocationFailure) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on huge allocations";
#endif
  // 2^40 * 8 bytes = 8 TiB: within the shape limit, beyond any machine.
  int64_t shape[] = {int64_t(1) << 40};
  rotor_tensor *tensor = nullptr;
  rotor_status status = rotor_tensor_create(ROTOR_F64, 1, shape, &tensor);
  if (status == ROTOR_OK) {
    rotor_tensor_free(tensor);
    GTEST_SKIP() << "the allocator overcommitted 8 TiB";
  }
  EXPECT_EQ(status, ROTOR_ERR_OUT_OF_MEMORY);
  EXPECT_THAT(rotor_last_error(), HasSubstr("cannot allocate"));
}

TEST(Tensor, AccessorsAcceptNull) {
  EXPECT_EQ(rotor_tensor_rank(nullptr), 0u);
  EXPECT_EQ(rotor_tensor_data(nullptr), nullptr);
  EXPECT_EQ(rotor_tensor_nbytes(nullptr), 0u);
  rotor_tensor_free(nullptr);
}
