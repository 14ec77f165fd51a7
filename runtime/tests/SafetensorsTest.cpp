//===- SafetensorsTest.cpp - Tests of .safetensors reading and writing ----===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Safetensors.h"
#include "TestUtil.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace rotor;
using namespace rotor::io;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// A file image: the 8-byte length, `header` and `data`.
std::string image(const std::string &header, const std::string &data = "") {
  std::string out;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

/// Parses `bytes`, expecting `status`; returns the message.
std::string parseError(const std::string &bytes, rotor_status status) {
  std::unique_ptr<SafetensorsFile> file;
  EXPECT_EQ(
      SafetensorsFile::parse(bytes.data(), bytes.size(), "m.safetensors", file),
      status);
  EXPECT_FALSE(file);
  return rotor_last_error();
}

/// The header of one F32 tensor "w" with the given shape and offsets.
std::string oneTensor(const std::string &shape, const std::string &offsets) {
  return R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":)" +
         offsets + "}}";
}

} // namespace

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  std::vector<TensorPtr> owned;
  std::vector<NamedTensor> named;
  const rotor_dtype dtypes[] = {ROTOR_F16, ROTOR_F32, ROTOR_BF16,
                                ROTOR_F64, ROTOR_I32, ROTOR_I64};
  for (rotor_dtype dtype : dtypes) {
    owned.push_back(makeTensor(dtype, {2, 3}, {1, -2, 3, -4, 5, 6}));
    named.push_back(
        {std::string("t_") + rotor_dtype_name(dtype), owned.back().get()});
  }
  owned.push_back(makeTensor(ROTOR_F32, {}, {42}));
  named.push_back({"scalar", owned.back().get()});
  owned.push_back(makeTensor(ROTOR_I64, {0, 3}, {}));
  named.push_back({"empty", owned.back().get()});
  std::string path = dir.file("m.safetensors");
  ASSERT_EQ(
      writeSafetensors(path, named, {{"format", "pt"}, {"note", "\"q\""}}),
      ROTOR_OK)
      << rotor_last_error();

  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(SafetensorsFile::open(path, file), ROTOR_OK) << rotor_last_error();
  EXPECT_EQ(file->tensors().size(), named.size());
  ASSERT_EQ(file->metadata().size(), 2u);
  EXPECT_EQ(file->metadata()[1].second, "\"q\"");
  for (const NamedTensor &tensor : named) {
    const SafetensorsTensorInfo *info = file->find(tensor.name);
    ASSERT_TRUE(info) << tensor.name;
    EXPECT_TRUE(info->supported);
    TensorPtr view, copy;
    ASSERT_EQ(file->view(tensor.name, view), ROTOR_OK);
    ASSERT_EQ(file->load(tensor.name, copy), ROTOR_OK);
    EXPECT_EQ(rotor_tensor_dtype(view.get()),
              rotor_tensor_dtype(tensor.tensor));
    EXPECT_EQ(tensorShape(view.get()), tensorShape(tensor.tensor));
    EXPECT_EQ(tensorValues(view.get()), tensorValues(tensor.tensor));
    EXPECT_EQ(tensorValues(copy.get()), tensorValues(tensor.tensor));
    EXPECT_EQ(rotor_tensor_owns_data(view.get()), 0);
    EXPECT_EQ(rotor_tensor_owns_data(copy.get()), 1);
    // Written files keep every tensor aligned to its element size.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(rotor_tensor_data(view.get())) %
                  rotor_dtype_size(rotor_tensor_dtype(view.get())),
              0u);
  }
  EXPECT_EQ(file->find("absent"), nullptr);
}

TEST(Safetensors, ReadsTheReferenceLayout) {
  // As written by the reference implementation: the header padded with
  // spaces; offsets relative to the data section.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I32","shape":[2],)"
      R"("data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],)"
      R"("data_offsets":[0,8]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  float a[2] = {1.5f, -2.0f};
  int32_t b[2] = {7, -9};
  std::string data(reinterpret_cast<char *>(a), 8);
  data.append(reinterpret_cast<char *>(b), 8);
  std::string bytes = image(header, data);
  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(SafetensorsFile::parse(bytes.data(), bytes.size(), "m", file),
            ROTOR_OK)
      << rotor_last_error();
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->tensors()[0].name, "b");
  TensorPtr tensor;
  ASSERT_EQ(file->view("a", tensor), ROTOR_OK);
  EXPECT_EQ(tensorValues(tensor.get()), (std::vector<double>{1.5, -2}));
  // The view points into the buffer: no copy.
  EXPECT_EQ(rotor_tensor_data(tensor.get()),
            static_cast<const void *>(bytes.data() + 8 + header.size()));
  ASSERT_EQ(file->view("b", tensor), ROTOR_OK);
  EXPECT_EQ(tensorValues(tensor.get()), (std::vector<double>{7, -9}));
}

TEST(Safetensors, MappedViewsAreNotCopies) {
  TempDir dir;
  TensorPtr tensor = makeTensor(ROTOR_F64, {4}, {1, 2, 3, 4});
  ASSERT_EQ(writeSafetensors(dir.file("m.safetensors"), {{"x", tensor.get()}}),
            ROTOR_OK);
  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(SafetensorsFile::open(dir.file("m.safetensors"), file), ROTOR_OK);
  TensorPtr first, second;
  ASSERT_EQ(file->view("x", first), ROTOR_OK);
  ASSERT_EQ(file->view("x", second), ROTOR_OK);
  EXPECT_EQ(rotor_tensor_data(first.get()), rotor_tensor_data(second.get()));
}

TEST(Safetensors, UnsupportedDtypesAreListedButNotViewable) {
  std::string bytes =
      image(R"({"m":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", "abc");
  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(
      SafetensorsFile::parse(bytes.data(), bytes.size(), "m.safetensors", file),
      ROTOR_OK)
      << rotor_last_error();
  ASSERT_EQ(file->tensors().size(), 1u);
  EXPECT_FALSE(file->tensors()[0].supported);
  EXPECT_EQ(file->tensors()[0].dtypeName, "U8");
  TensorPtr tensor;
  EXPECT_EQ(file->view("m", tensor), ROTOR_ERR_UNSUPPORTED);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("m.safetensors: tensor 'm' has dtype U8, which the "
                        "runtime does not support"));
  EXPECT_EQ(file->load("zz", tensor), ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("m.safetensors: no tensor named 'zz' (has: m)"));
}

TEST(Safetensors, RejectsBadLengths) {
  EXPECT_THAT(parseError("abc", ROTOR_ERR_FORMAT),
              HasSubstr("m.safetensors: truncated: a .safetensors file starts "
                        "with an 8-byte header length, but the file has 3 "
                        "bytes"));
  std::string bytes = image(oneTensor("[1]", "[0,4]"), "abcd");
  std::string pastEnd = bytes;
  pastEnd[0] = static_cast<char>(pastEnd[0] + 5);
  EXPECT_THAT(parseError(pastEnd, ROTOR_ERR_FORMAT),
              HasSubstr("runs past the end of the file"));
  std::string huge = bytes;
  huge[7] = '\x01';
  EXPECT_THAT(parseError(huge, ROTOR_ERR_FORMAT),
              HasSubstr("exceeds the limit of 100000000 bytes"));
}

TEST(Safetensors, RejectsBadHeaders) {
  EXPECT_THAT(parseError(image("{\"w\": }"), ROTOR_ERR_FORMAT),
              HasSubstr("m.safetensors (header):1:7: unexpected character "
                        "'}'"));
  EXPECT_THAT(parseError(image("[]"), ROTOR_ERR_FORMAT),
              HasSubstr("the header must be a JSON object, got an array"));
  EXPECT_THAT(parseError(image(R"({"w":{"dtype":"F32","shape":[1]}})"),
                         ROTOR_ERR_FORMAT),
              HasSubstr("tensor 'w': missing field 'data_offsets'"));
  EXPECT_THAT(
      parseError(image(R"({"w":{"dtype":"F32","shape":[],"data_offsets":)"
                       R"([0,4],"x":1}})",
                       "abcd"),
                 ROTOR_ERR_FORMAT),
      HasSubstr("tensor 'w': unknown field 'x'"));
  EXPECT_THAT(
      parseError(image(R"({"w":{"dtype":"F99","shape":[],"data_offsets":)"
                       R"([0,4]}})",
                       "abcd"),
                 ROTOR_ERR_UNSUPPORTED),
      HasSubstr("tensor 'w': unknown dtype 'F99'"));
  EXPECT_THAT(
      parseError(image(oneTensor("[-1]", "[0,4]"), "abcd"), ROTOR_ERR_FORMAT),
      HasSubstr("shape must be an array of non-negative integers"));
  EXPECT_THAT(
      parseError(image(oneTensor("[1]", "[0]"), "abcd"), ROTOR_ERR_FORMAT),
      HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(
      parseError(image(R"({"__metadata__":{"a":1}})"), ROTOR_ERR_FORMAT),
      HasSubstr("__metadata__: value of 'a' must be a string, got a number"));
  EXPECT_THAT(parseError(image(R"({"__metadata__":[]})"), ROTOR_ERR_FORMAT),
              HasSubstr("__metadata__ must be an object of strings"));
}

TEST(Safetensors, RejectsBadOffsets) {
  EXPECT_THAT(
      parseError(image(oneTensor("[2]", "[0,8]"), "abcd"), ROTOR_ERR_FORMAT),
      HasSubstr("m.safetensors: tensor 'w': data_offsets [0, 8] run "
                "past the end of the data (4 bytes)"));
  EXPECT_THAT(
      parseError(image(oneTensor("[1]", "[4,0]"), "abcd"), ROTOR_ERR_FORMAT),
      HasSubstr("data_offsets [4, 0] has begin after end"));
  EXPECT_THAT(
      parseError(image(oneTensor("[2, 3]", "[0,8]"), std::string(8, 'x')),
                 ROTOR_ERR_FORMAT),
      HasSubstr("tensor 'w': data_offsets [0, 8] hold 8 bytes but "
                "shape [2, 3] of F32 needs 24"));
  EXPECT_THAT(parseError(image(oneTensor("[4294967296, 4294967296]", "[0,8]"),
                               std::string(8, 'x')),
                         ROTOR_ERR_FORMAT),
              HasSubstr("needs more than 2^64"));
  EXPECT_THAT(
      parseError(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)"
                       R"([0,8]},"b":{"dtype":"I32","shape":[2],)"
                       R"("data_offsets":[4,12]}})",
                       std::string(12, 'x')),
                 ROTOR_ERR_FORMAT),
      HasSubstr("m.safetensors: tensors 'a' and 'b' overlap (bytes [0, 8) and "
                "[4, 12))"));
}

TEST(Safetensors, RejectsGapsAndTrailingData) {
  // Listed out of order, with 4 unused bytes between them.
  EXPECT_THAT(
      parseError(image(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":)"
                       R"([8,12]},"a":{"dtype":"F32","shape":[1],)"
                       R"("data_offsets":[0,4]}})",
                       std::string(12, 'x')),
                 ROTOR_ERR_FORMAT),
      HasSubstr("m.safetensors: data bytes [4, 8) before tensor 'b' belong to "
                "no tensor (the data must be contiguous)"));
  EXPECT_THAT(
      parseError(image(oneTensor("[1]", "[4,8]"), "abcdefgh"),
                 ROTOR_ERR_FORMAT),
      HasSubstr("data bytes [0, 4) before tensor 'w' belong to no tensor"));
  EXPECT_THAT(
      parseError(image(oneTensor("[1]", "[0,4]"), "abcdefgh"),
                 ROTOR_ERR_FORMAT),
      HasSubstr("m.safetensors: data bytes [4, 8) after the last tensor "
                "belong to no tensor"));
  EXPECT_THAT(parseError(image("{}", "ab"), ROTOR_ERR_FORMAT),
              HasSubstr("data bytes [0, 2) after the last tensor"));
  // Empty tensors take no bytes and may sit anywhere in range.
  std::string bytes =
      image(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
            R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            "abcd");
  std::unique_ptr<SafetensorsFile> file;
  EXPECT_EQ(SafetensorsFile::parse(bytes.data(), bytes.size(), "m", file),
            ROTOR_OK)
      << rotor_last_error();
}

TEST(Safetensors, RejectsDuplicateTensorNames) {
  EXPECT_THAT(
      parseError(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":)"
                       R"([0,4]},"w":{"dtype":"F32","shape":[1],)"
                       R"("data_offsets":[4,8]}})",
                       "abcdefgh"),
                 ROTOR_ERR_FORMAT),
      HasSubstr("duplicate key 'w'"));
}

TEST(Safetensors, NeverCrashesOnTruncationsAndBitFlips) {
  TensorPtr a = makeTensor(ROTOR_F32, {2}, {1, 2});
  TensorPtr b = makeTensor(ROTOR_BF16, {3}, {1, 2, 3});
  std::string bytes;
  ASSERT_EQ(
      encodeSafetensors({{"a", a.get()}, {"b", b.get()}}, bytes, {{"k", "v"}}),
      ROTOR_OK);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::unique_ptr<SafetensorsFile> file;
    EXPECT_NE(SafetensorsFile::parse(bytes.data(), n, "m", file), ROTOR_OK);
    for (int bit = 0; bit < 8; bit += 2) {
      std::string flipped = bytes;
      flipped[n] = static_cast<char>(flipped[n] ^ (1 << bit));
      if (SafetensorsFile::parse(flipped.data(), flipped.size(), "m", file) ==
          ROTOR_OK) {
        for (const SafetensorsTensorInfo &info : file->tensors()) {
          TensorPtr tensor;
          file->load(info.name, tensor);
        }
      }
    }
  }
}

TEST(Safetensors, WriteErrors) {
  TempDir dir;
  TensorPtr a = makeTensor(ROTOR_F32, {1}, {1});
  EXPECT_EQ(writeSafetensors(dir.file("m.safetensors"),
                             {{"a", a.get()}, {"a", a.get()}}),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("m.safetensors: duplicate tensor name 'a'"));
  EXPECT_EQ(
      writeSafetensors(dir.file("m.safetensors"), {{"__metadata__", a.get()}}),
      ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(writeSafetensors(dir.file("m.safetensors"), {{"n", nullptr}}),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(exists(dir.file("m.safetensors")));
  std::unique_ptr<SafetensorsFile> file;
  EXPECT_EQ(SafetensorsFile::open(dir.file("m.safetensors"), file),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("cannot open"));
  // An empty file is truncated, not a crash.
  writeFile(dir.file("empty.safetensors"), "");
  EXPECT_EQ(SafetensorsFile::open(dir.file("empty.safetensors"), file),
            ROTOR_ERR_FORMAT);
  // No tensors at all is a valid file.
  ASSERT_EQ(writeSafetensors(dir.file("none.safetensors"), {}), ROTOR_OK);
  ASSERT_EQ(SafetensorsFile::open(dir.file("none.safetensors"), file),
            ROTOR_OK);
  EXPECT_TRUE(file->tensors().empty());
}
