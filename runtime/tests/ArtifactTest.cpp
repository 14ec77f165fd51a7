//===- ArtifactTest.cpp - Tests of loading artifacts ----------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// Loads `dir`, expecting `status`; returns the message.
std::string loadError(const std::string &dir, rotor_status status,
                      rotor_device device = ROTOR_DEVICE_CPU) {
  rotor_artifact *artifact = reinterpret_cast<rotor_artifact *>(1);
  EXPECT_EQ(rotor_artifact_load(dir.c_str(), device, &artifact), status)
      << rotor_last_error();
  EXPECT_EQ(artifact, nullptr);
  return rotor_last_error();
}

std::string replaced(std::string text, const std::string &from,
                     const std::string &to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

} // namespace

TEST(Artifact, LoadsAndDescribesEntries) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest());
  rotor_artifact *raw = nullptr;
  ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw), ROTOR_OK)
      << rotor_last_error();
  ArtifactPtr artifact(raw);
  EXPECT_EQ(rotor_artifact_device(raw), ROTOR_DEVICE_CPU);
  ASSERT_EQ(rotor_artifact_num_entries(raw), 8u);
  EXPECT_STREQ(rotor_artifact_entry_name(raw, 0), "add");
  EXPECT_STREQ(rotor_artifact_entry_name(raw, 7), "alignment");
  EXPECT_EQ(rotor_artifact_entry_name(raw, 8), nullptr);

  size_t index;
  ASSERT_EQ(rotor_artifact_find_entry(raw, "split", &index), ROTOR_OK);
  EXPECT_EQ(index, 3u);
  EXPECT_EQ(rotor_entry_num_inputs(raw, index), 1u);
  EXPECT_EQ(rotor_entry_num_outputs(raw, index), 2u);
  EXPECT_EQ(rotor_entry_num_inputs(raw, 99), 0u);

  rotor_arg_info info;
  ASSERT_EQ(rotor_entry_input(raw, 0, 1, &info), ROTOR_OK);
  EXPECT_STREQ(info.name, "b");
  EXPECT_EQ(info.dtype, ROTOR_F32);
  ASSERT_EQ(info.rank, 2u);
  EXPECT_EQ(info.shape[0], ROTOR_DYNAMIC_DIM);
  EXPECT_EQ(info.shape[1], 5);
  ASSERT_EQ(rotor_entry_output(raw, 1, 0, &info), ROTOR_OK);
  EXPECT_STREQ(info.name, "total");
  EXPECT_EQ(info.rank, 0u);
  EXPECT_NE(info.shape, nullptr);

  EXPECT_EQ(rotor_entry_input(raw, 0, 2, &info), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("input index 2 is out of range (entry 'add' has 2)"));
  EXPECT_EQ(rotor_entry_output(raw, 8, 0, &info), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("entry index 8 is out of range"));
}

TEST(Artifact, UnknownEntryListsTheKnownOnes) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", addOnlyManifest());
  rotor_artifact *raw = nullptr;
  ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &raw), ROTOR_OK);
  ArtifactPtr artifact(raw);
  size_t index;
  EXPECT_EQ(rotor_artifact_find_entry(raw, "forward", &index),
            ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(
      rotor_last_error(),
      HasSubstr("unknown entry 'forward' (artifact '" + dir + "' has: add)"));
}

TEST(Artifact, MissingDirectoryOrManifest) {
  TempDir root;
  EXPECT_THAT(loadError(root.file("absent"), ROTOR_ERR_NOT_FOUND),
              HasSubstr("absent: no such artifact directory"));
  EXPECT_THAT(loadError(root.path(), ROTOR_ERR_NOT_FOUND),
              HasSubstr("no manifest.json"));
}

TEST(Artifact, MalformedManifest) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", "{\"format\": \n  oops}");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_FORMAT),
              HasSubstr(dir + "/manifest.json:2:3: unexpected character 'o', "
                              "expected a JSON value"));
}

TEST(Artifact, FormatVersionTwo) {
  TempDir root;
  std::string dir =
      makeArtifact(root, "art",
                   replaced(standardManifest(), "\"format_version\": 1",
                            "\"format_version\": 2"));
  EXPECT_THAT(loadError(dir, ROTOR_ERR_UNSUPPORTED),
              HasSubstr("artifact format version 2 is not supported by this "
                        "runtime (supports 1)"));
}

TEST(Artifact, MissingLibrary) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest(), "");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_NOT_FOUND),
              HasSubstr("library '" + dir +
                        "/module.so' named by the manifest does not exist"));
}

TEST(Artifact, LibraryThatIsNotASharedObject) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest(), "");
  writeFile(dir + "/module.so", "not an ELF file");
  EXPECT_THAT(loadError(dir, ROTOR_ERR_BACKEND),
              HasSubstr("cannot load library '" + dir + "/module.so': "));
}

TEST(Artifact, MissingEntrySymbol) {
  TempDir root;
  std::string dir =
      makeArtifact(root, "art",
                   replaced(standardManifest(), "\"rotor_entry_sum\"",
                            "\"rotor_entry_missing\""));
  EXPECT_THAT(loadError(dir, ROTOR_ERR_NOT_FOUND),
              HasSubstr("library '" + dir +
                        "/module.so' does not export symbol "
                        "'rotor_entry_missing' (entry 'sum')"));
}

TEST(Artifact, MissingRotorFree) {
  TempDir root;
  std::string dir =
      makeArtifact(root, "art", standardManifest(), testLibraryWithoutFree());
  EXPECT_THAT(loadError(dir, ROTOR_ERR_NOT_FOUND),
              HasSubstr("does not export symbol 'rotor_free' (the artifact "
                        "ABI requires it to release outputs)"));
}

TEST(Artifact, CpuArtifactOnTheCudaDevice) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest());
#ifdef ROTOR_HAVE_CUDA
  EXPECT_THAT(loadError(dir, ROTOR_ERR_INVALID_ARGUMENT, ROTOR_DEVICE_CUDA),
              HasSubstr("was compiled for target 'cpu' and cannot run on "
                        "device 'cuda' (compile it with rotorc "
                        "--target=cuda)"));
#else
  EXPECT_THAT(loadError(dir, ROTOR_ERR_UNSUPPORTED, ROTOR_DEVICE_CUDA),
              HasSubstr("device 'cuda' is not supported by this runtime "
                        "build"));
#endif
}

TEST(Artifact, TargetMustMatchTheDevice) {
  TempDir root;
  std::string dir =
      makeArtifact(root, "art",
                   replaced(standardManifest(), "\"target\": \"cpu\"",
                            "\"target\": \"cuda\""));
  EXPECT_THAT(loadError(dir, ROTOR_ERR_INVALID_ARGUMENT),
              HasSubstr("was compiled for target 'cuda' and cannot run on "
                        "device 'cpu'"));
}

TEST(Artifact, NullArgumentsAreRejected) {
  rotor_artifact *artifact;
  EXPECT_EQ(rotor_artifact_load(nullptr, ROTOR_DEVICE_CPU, &artifact),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_artifact_load("x", ROTOR_DEVICE_CPU, nullptr),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(rotor_artifact_load("x", static_cast<rotor_device>(7), &artifact),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("invalid device value 7"));
  rotor_artifact_free(nullptr);
  EXPECT_EQ(rotor_artifact_num_entries(nullptr), 0u);
}

TEST(Artifact, LoadsTwiceAndFreesIndependently) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest());
  rotor_artifact *first = nullptr, *second = nullptr;
  ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &first),
            ROTOR_OK);
  ASSERT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &second),
            ROTOR_OK);
  rotor_artifact_free(first);
  EXPECT_EQ(rotor_artifact_num_entries(second), 8u);
  rotor_artifact_free(second);
}
