//===- NpyTest.cpp - Tests of .npy reading and writing --------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Npy.h"
#include "TestUtil.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

using namespace rotor;
using namespace rotor::io;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// A .npy file image with the given version, header text and data.
std::string npyImage(int major, const std::string &header,
                     const std::string &data = "") {
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  size_t length = header.size();
  out += static_cast<char>(length & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  if (major >= 2) {
    out += static_cast<char>((length >> 16) & 0xff);
    out += static_cast<char>((length >> 24) & 0xff);
  }
  return out + header + data;
}

std::string floatBytes(const std::vector<float> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(float));
}

/// Reads an in-memory image, expecting `status`; returns the message.
std::string readError(const std::string &image, rotor_status status,
                      const NpyReadOptions &options = {}) {
  TensorPtr tensor;
  EXPECT_EQ(
      readNpyFromMemory(image.data(), image.size(), "x.npy", tensor, options),
      status);
  EXPECT_FALSE(tensor);
  return rotor_last_error();
}

const char *f32Header =
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

} // namespace

TEST(Npy, RoundTripsEveryDtype) {
  TempDir dir;
  for (rotor_dtype dtype :
       {ROTOR_F32, ROTOR_F64, ROTOR_F16, ROTOR_I32, ROTOR_I64}) {
    for (const std::vector<int64_t> &shape : std::vector<std::vector<int64_t>>{
             {2, 3}, {}, {0, 4}, {7}, {1, 2, 1, 2}}) {
      int64_t numel = 1;
      for (int64_t dim : shape)
        numel *= dim;
      std::vector<double> values;
      for (int64_t i = 0; i < numel; ++i)
        values.push_back(static_cast<double>(i) - 2.0);
      TensorPtr tensor = makeTensor(dtype, shape, values);
      std::string path = dir.file("t.npy");
      ASSERT_EQ(writeNpy(path, tensor.get()), ROTOR_OK) << rotor_last_error();
      TensorPtr back;
      ASSERT_EQ(readNpy(path, back), ROTOR_OK) << rotor_last_error();
      EXPECT_EQ(rotor_tensor_dtype(back.get()), dtype);
      EXPECT_EQ(tensorShape(back.get()), shape);
      EXPECT_EQ(tensorValues(back.get()), values);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(rotor_tensor_data(back.get())) % 64,
                0u);
    }
  }
}

TEST(Npy, MatchesNumPyLayout) {
  TensorPtr tensor = makeTensor(ROTOR_F32, {2, 3}, {1, 2, 3, 4, 5, 6});
  std::string image;
  ASSERT_EQ(encodeNpy(tensor.get(), image), ROTOR_OK);
  // np.save writes a 1.0 header padded so that the data starts at a
  // multiple of 64: here 118 bytes ('v').
  ASSERT_EQ(image.size(), 128u + 24u);
  EXPECT_EQ(image.substr(0, 10), std::string("\x93NUMPY\x01\x00v\x00", 10));
  EXPECT_EQ(image.substr(10, 59),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  EXPECT_EQ(image.substr(69, 58), std::string(58, ' '));
  EXPECT_EQ(image[127], '\n');
  EXPECT_EQ(image.substr(128), floatBytes({1, 2, 3, 4, 5, 6}));

  TensorPtr scalar = makeTensor(ROTOR_I64, {}, {5});
  ASSERT_EQ(encodeNpy(scalar.get(), image), ROTOR_OK);
  EXPECT_THAT(image, HasSubstr("'descr': '<i8', 'fortran_order': False, "
                               "'shape': (), }"));
  TensorPtr vector = makeTensor(ROTOR_F16, {3}, {1, 2, 3});
  ASSERT_EQ(encodeNpy(vector.get(), image), ROTOR_OK);
  EXPECT_THAT(image, HasSubstr("'descr': '<f2', 'fortran_order': False, "
                               "'shape': (3,), }"));
}

TEST(Npy, ReadsVersionTwoAndOtherSpellings) {
  std::string header = "{\"shape\": (3L,), \"fortran_order\": True, "
                       "\"descr\": \"<f4\"}";
  std::string image = npyImage(2, header, floatBytes({1, 2, 3}));
  TensorPtr tensor;
  ASSERT_EQ(readNpyFromMemory(image.data(), image.size(), "x.npy", tensor),
            ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(tensorShape(tensor.get()), (std::vector<int64_t>{3}));
  EXPECT_EQ(tensorValues(tensor.get()), (std::vector<double>{1, 2, 3}));

  // A 16-byte aligned header as written by old NumPy versions.
  image = npyImage(1,
                   "{'descr': '<i4', 'fortran_order': False, 'shape': "
                   "(2,), }    \n",
                   std::string("\x01\0\0\0\x02\0\0\0", 8));
  ASSERT_EQ(readNpyFromMemory(image.data(), image.size(), "x.npy", tensor),
            ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(tensorValues(tensor.get()), (std::vector<double>{1, 2}));
}

TEST(Npy, BF16IsWrittenAsF32ByDefault) {
  TempDir dir;
  TensorPtr tensor = makeTensor(ROTOR_BF16, {2, 2}, {1.5, -2, 0.25, 3e38});
  ASSERT_EQ(writeNpy(dir.file("b.npy"), tensor.get()), ROTOR_OK);
  EXPECT_THAT(readFileBytes(dir.file("b.npy")), HasSubstr("'<f4'"));
  TensorPtr back;
  ASSERT_EQ(readNpy(dir.file("b.npy"), back), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_dtype(back.get()), ROTOR_F32);
  EXPECT_EQ(tensorValues(back.get()), tensorValues(tensor.get()));
}

TEST(Npy, BF16AsU2OnlyWhenRequested) {
  TempDir dir;
  TensorPtr tensor = makeTensor(ROTOR_BF16, {3}, {1.5, -2, 0.25});
  NpyWriteOptions writeOptions;
  writeOptions.bf16AsU2 = true;
  ASSERT_EQ(writeNpy(dir.file("b.npy"), tensor.get(), writeOptions), ROTOR_OK);
  EXPECT_THAT(readFileBytes(dir.file("b.npy")), HasSubstr("'<u2'"));
  TensorPtr back;
  EXPECT_EQ(readNpy(dir.file("b.npy"), back), ROTOR_ERR_UNSUPPORTED);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("b.npy: '<u2' (uint16) arrays are only read as bf16 "
                        "bit patterns, and only when that is requested"));
  NpyReadOptions readOptions;
  readOptions.u2AsBF16 = true;
  ASSERT_EQ(readNpy(dir.file("b.npy"), back, readOptions), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_dtype(back.get()), ROTOR_BF16);
  EXPECT_EQ(std::memcmp(rotor_tensor_data(back.get()),
                        rotor_tensor_data(tensor.get()), 6),
            0);
}

TEST(Npy, RejectsUnsupportedArrays) {
  std::string data = floatBytes({1, 2, 3, 4, 5, 6});
  EXPECT_THAT(
      readError(npyImage(1,
                         "{'descr': '<f4', 'fortran_order': True, "
                         "'shape': (2, 3), }\n",
                         data),
                ROTOR_ERR_UNSUPPORTED),
      HasSubstr("x.npy: the array is stored in Fortran order (fortran_order: "
                "True); only C order is supported"));
  EXPECT_THAT(
      readError(npyImage(1,
                         "{'descr': '>f4', 'fortran_order': False, "
                         "'shape': (2, 3), }\n",
                         data),
                ROTOR_ERR_UNSUPPORTED),
      HasSubstr("x.npy: big-endian dtype '>f4' is not supported; convert "
                "with a.astype('<f4')"));
  EXPECT_THAT(
      readError(npyImage(1,
                         "{'descr': '<c8', 'fortran_order': False, "
                         "'shape': (3,), }\n",
                         data),
                ROTOR_ERR_UNSUPPORTED),
      HasSubstr("x.npy: dtype '<c8' is not supported (supported: '<f4', "
                "'<f8', '<f2', '<i4', '<i8')"));
  EXPECT_THAT(readError(npyImage(1,
                                 "{'descr': [('a', '<f4')], 'fortran_order': "
                                 "False, 'shape': (6,), }\n",
                                 data),
                        ROTOR_ERR_UNSUPPORTED),
              HasSubstr("structured arrays are not supported"));
}

TEST(Npy, RejectsCorruptFiles) {
  std::string data = floatBytes({1, 2, 3, 4, 5, 6});
  std::string good = npyImage(1, f32Header, data);
  EXPECT_THAT(readError("PK\x03\x04 a zip file", ROTOR_ERR_FORMAT),
              HasSubstr("x.npy: not a .npy file"));
  EXPECT_THAT(readError(good.substr(0, 9), ROTOR_ERR_FORMAT),
              HasSubstr("x.npy: truncated: the file ends inside the .npy "
                        "preamble"));
  std::string v3 = good;
  v3[6] = 3;
  EXPECT_THAT(readError(v3, ROTOR_ERR_UNSUPPORTED),
              HasSubstr(".npy format version 3.0 is not supported (supports "
                        "1.0 and 2.0)"));
  // Header length past the end of the file.
  std::string longHeader = good.substr(0, 40);
  longHeader[8] = '\xff';
  longHeader[9] = '\x7f';
  EXPECT_THAT(readError(longHeader, ROTOR_ERR_FORMAT),
              HasSubstr("x.npy: header length 32767 runs past the end of the "
                        "file (30 bytes follow the preamble)"));
  std::string hugeHeader = npyImage(2, "");
  hugeHeader[11] = '\x7f';
  EXPECT_THAT(readError(hugeHeader, ROTOR_ERR_FORMAT),
              HasSubstr("exceeds the limit of 1048576 bytes"));
  // Truncated data.
  EXPECT_THAT(readError(good.substr(0, good.size() - 4), ROTOR_ERR_FORMAT),
              HasSubstr("x.npy: truncated: the header declares a f32 array of "
                        "shape (2, 3) (24 bytes of data) but only 20 bytes "
                        "follow the header"));
  EXPECT_THAT(readError(good + "xx", ROTOR_ERR_FORMAT),
              HasSubstr("x.npy: 2 unexpected bytes after the array data"));
}

TEST(Npy, RejectsBadHeaders) {
  auto headerError = [](const std::string &header) {
    return readError(npyImage(1, header), ROTOR_ERR_FORMAT);
  };
  EXPECT_THAT(headerError("{'descr': '<f4', 'shape': (0,)}"),
              HasSubstr("x.npy: invalid .npy header: missing key "
                        "'fortran_order'"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'descr': '<f4'}"),
              HasSubstr("duplicate key 'descr'"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (0,), 'extra': 1}"),
              HasSubstr("unexpected key 'extra'"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': 0, "
                          "'shape': (0,)}"),
              HasSubstr("'fortran_order' must be True or False"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (-1,)}"),
              HasSubstr("'shape' must hold non-negative integers"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': [1]}"),
              HasSubstr("'shape' must be a tuple"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (99999999999999999999,)}"),
              HasSubstr("dimension too large"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (4611686018427387904, 8)}"),
              HasSubstr("is too large"));
  EXPECT_THAT(headerError("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (1,)} trailing"),
              HasSubstr("unexpected text after the header dict"));
  EXPECT_THAT(headerError("'descr'"), HasSubstr("expected '{'"));
  EXPECT_THAT(headerError("{'descr: '<f4'}"), HasSubstr("expected ':'"));
  EXPECT_THAT(headerError("{'descr': '<f4"), HasSubstr("unterminated"));
  std::string deep = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 33; ++i)
    deep += "1, ";
  EXPECT_THAT(readError(npyImage(1, deep + ")}"), ROTOR_ERR_UNSUPPORTED),
              HasSubstr("rank exceeds the maximum rank 32"));
}

TEST(Npy, NeverCrashesOnTruncationsAndBitFlips) {
  TensorPtr tensor = makeTensor(ROTOR_F64, {2, 2}, {1, 2, 3, 4});
  std::string image;
  ASSERT_EQ(encodeNpy(tensor.get(), image), ROTOR_OK);
  for (size_t n = 0; n < image.size(); ++n) {
    TensorPtr out;
    EXPECT_NE(readNpyFromMemory(image.data(), n, "x.npy", out), ROTOR_OK);
    for (int bit = 0; bit < 8; bit += 3) {
      std::string flipped = image;
      flipped[n] = static_cast<char>(flipped[n] ^ (1 << bit));
      readNpyFromMemory(flipped.data(), flipped.size(), "x.npy", out);
    }
  }
}

TEST(Npy, FileErrors) {
  TempDir dir;
  TensorPtr tensor;
  EXPECT_EQ(readNpy(dir.file("absent.npy"), tensor), ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("absent.npy: cannot open: No such file or directory"));
  EXPECT_EQ(readNpy(dir.path(), tensor), ROTOR_ERR_IO);
  EXPECT_THAT(rotor_last_error(), HasSubstr("not a regular file"));
  writeFile(dir.file("short.npy"), npyImage(1, f32Header, "abc"));
  EXPECT_EQ(readNpy(dir.file("short.npy"), tensor), ROTOR_ERR_FORMAT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("short.npy: truncated"));
  writeFile(dir.file("empty.npy"), "");
  EXPECT_EQ(readNpy(dir.file("empty.npy"), tensor), ROTOR_ERR_FORMAT);

  TensorPtr value = makeTensor(ROTOR_F32, {1}, {1});
  EXPECT_EQ(writeNpy(dir.file("no/such/dir/x.npy"), value.get()),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("x.npy: cannot create a temporary file in "));
  EXPECT_EQ(writeNpy(dir.path(), value.get()), ROTOR_ERR_IO);
  EXPECT_THAT(rotor_last_error(), HasSubstr("is a directory"));
}

TEST(Npy, WritesAtomically) {
  TempDir dir;
  TensorPtr first = makeTensor(ROTOR_I32, {2}, {1, 2});
  TensorPtr second = makeTensor(ROTOR_I32, {3}, {3, 4, 5});
  ASSERT_EQ(writeNpy(dir.file("x.npy"), first.get()), ROTOR_OK);
  ASSERT_EQ(writeNpy(dir.file("x.npy"), second.get()), ROTOR_OK);
  TensorPtr back;
  ASSERT_EQ(readNpy(dir.file("x.npy"), back), ROTOR_OK);
  EXPECT_EQ(tensorValues(back.get()), (std::vector<double>{3, 4, 5}));
  // No temporary file is left behind.
  size_t files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}
