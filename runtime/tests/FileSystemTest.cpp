//===- FileSystemTest.cpp - Tests of the file helpers ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "support/FileSystem.h"
#include "TestUtil.h"
#include "support/AtomicFile.h"
#include "support/MappedFile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {
size_t countFiles(const std::string &dir) {
  size_t count = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++count;
  }
  return count;
}
} // namespace

TEST(FileSystem, JoinPath) {
  EXPECT_EQ(joinPath("a", "b"), "a/b");
  EXPECT_EQ(joinPath("a/", "b"), "a/b");
  EXPECT_EQ(joinPath("", "b"), "b");
}

TEST(FileSystem, ReadFileEnforcesTheLimit) {
  TempDir dir;
  writeFile(dir.file("f"), "hello");
  std::string text;
  ASSERT_EQ(readFile(dir.file("f"), 5, "thing", text), ROTOR_OK);
  EXPECT_EQ(text, "hello");
  EXPECT_EQ(readFile(dir.file("f"), 4, "thing", text), ROTOR_ERR_FORMAT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("the thing is 5 bytes, more than the limit of 4"));
  EXPECT_EQ(readFile(dir.file("g"), 4, "thing", text), ROTOR_ERR_NOT_FOUND);
}

TEST(AtomicFile, CommitReplacesAndLeavesNoTemporary) {
  TempDir dir;
  writeFile(dir.file("out"), "old");
  {
    AtomicFileWriter writer;
    ASSERT_EQ(writer.open(dir.file("out")), ROTOR_OK);
    ASSERT_EQ(writer.write("new ", 4), ROTOR_OK);
    EXPECT_EQ(readFileBytes(dir.file("out")), "old");
    EXPECT_EQ(countFiles(dir.path()), 2u);
    ASSERT_EQ(writer.write("data", 4), ROTOR_OK);
    ASSERT_EQ(writer.commit(), ROTOR_OK);
  }
  EXPECT_EQ(readFileBytes(dir.file("out")), "new data");
  EXPECT_EQ(countFiles(dir.path()), 1u);
}

TEST(AtomicFile, AbandonedWriteLeavesTheOldFile) {
  TempDir dir;
  writeFile(dir.file("out"), "old");
  {
    AtomicFileWriter writer;
    ASSERT_EQ(writer.open(dir.file("out")), ROTOR_OK);
    ASSERT_EQ(writer.write("partial", 7), ROTOR_OK);
  }
  EXPECT_EQ(readFileBytes(dir.file("out")), "old");
  EXPECT_EQ(countFiles(dir.path()), 1u);
}

TEST(AtomicFile, Errors) {
  TempDir dir;
  AtomicFileWriter writer;
  EXPECT_EQ(writer.open(dir.file("missing/out")), ROTOR_ERR_NOT_FOUND);
  EXPECT_EQ(writer.write("x", 1), ROTOR_ERR_IO);
  EXPECT_EQ(writer.commit(), ROTOR_ERR_IO);
  EXPECT_EQ(writer.open(""), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(writer.open(dir.path()), ROTOR_ERR_IO);
}

TEST(MappedFile, MapsContentsAndEmptyFiles) {
  TempDir dir;
  writeFile(dir.file("f"), "mapped");
  std::unique_ptr<MappedFile> file;
  ASSERT_EQ(MappedFile::open(dir.file("f"), file), ROTOR_OK);
  ASSERT_EQ(file->size(), 6u);
  EXPECT_EQ(std::memcmp(file->data(), "mapped", 6), 0);
  writeFile(dir.file("empty"), "");
  ASSERT_EQ(MappedFile::open(dir.file("empty"), file), ROTOR_OK);
  EXPECT_EQ(file->size(), 0u);
  EXPECT_EQ(MappedFile::open(dir.path(), file), ROTOR_ERR_IO);
  EXPECT_EQ(MappedFile::open(dir.file("none"), file), ROTOR_ERR_NOT_FOUND);
}
