//===- CApiTest.cpp - Runs the C translation unit CApiTest.c --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include <gtest/gtest.h>

extern "C" float rotor_test_c_api_sum(const char *dir);
extern "C" float rotor_test_c_api_named_add(const char *dir);
extern "C" float rotor_test_c_api_session(const char *dir);

using namespace rotor::test;

TEST(CApi, UsableFromC) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest());
  EXPECT_EQ(rotor_test_c_api_sum(dir.c_str()), 10.0f) << rotor_last_error();
  EXPECT_EQ(rotor_test_c_api_sum(root.file("absent").c_str()), -1.0f);
}

TEST(CApi, NamedCallsFromC) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", standardManifest());
  EXPECT_EQ(rotor_test_c_api_named_add(dir.c_str()), 65.0f)
      << rotor_last_error();
}

TEST(CApi, SessionsFromC) {
  TempDir root;
  std::string dir = makeArtifact(root, "art", sessionManifest());
  writeSessionWeights(dir);
  // total = (1 + 2 + 3) * scale = (6, 12, 3) after three calls, mean =
  // total / 3 = (2, 4, 1), count = 3.
  EXPECT_EQ(rotor_test_c_api_session(dir.c_str()), 10.0f) << rotor_last_error();
}
