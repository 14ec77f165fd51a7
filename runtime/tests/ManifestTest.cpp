//===- ManifestTest.cpp - Tests of manifest.json validation ---------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"
#include "TestUtil.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

/// A valid manifest with `entries` spliced in as the entries array body.
std::string manifestWith(const std::string &entries,
                         const std::string &extra = "",
                         const std::string &library = "\"module.so\"") {
  return R"({"format": "rotor-artifact", "format_version": 1, "target": "cpu",
             "library": )" +
         library + extra + R"(, "entries": [)" + entries + "]}";
}

const char *forwardEntry =
    R"({"name": "forward", "symbol": "rotor_entry_forward",
        "inputs": [{"name": "x", "dtype": "f32", "shape": [2, null, 64]}],
        "outputs": [{"name": "result0", "dtype": "bf16", "shape": []}]})";

/// An entry whose first input has the given dtype and shape JSON.
std::string entryWithInput(const std::string &dtype, const std::string &shape) {
  return R"({"name": "e", "symbol": "rotor_entry_e", "inputs": [
            {"name": "x", "dtype": "f32", "shape": [1]},
            {"name": "k", "dtype": ")" +
         dtype + R"(", "shape": )" + shape + R"(}], "outputs": []})";
}

rotor_status parse(const std::string &text, Manifest &manifest) {
  return parseManifest(text, "art/manifest.json", manifest);
}

/// Parses `text`, expecting `status`; returns the message.
std::string parseError(const std::string &text,
                       rotor_status status = ROTOR_ERR_FORMAT) {
  Manifest manifest;
  EXPECT_EQ(parse(text, manifest), status) << text;
  return rotor_last_error();
}

} // namespace

TEST(Manifest, ParsesTheDocumentedExample) {
  Manifest manifest;
  ASSERT_EQ(parse(manifestWith(forwardEntry), manifest), ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(manifest.target, "cpu");
  EXPECT_EQ(manifest.library, "module.so");
  ASSERT_EQ(manifest.entries.size(), 1u);
  const EntrySpec &entry = manifest.entries[0];
  EXPECT_EQ(entry.name, "forward");
  EXPECT_EQ(entry.symbol, "rotor_entry_forward");
  ASSERT_EQ(entry.inputs.size(), 1u);
  EXPECT_EQ(entry.inputs[0].name, "x");
  EXPECT_EQ(entry.inputs[0].dtype, ROTOR_F32);
  EXPECT_EQ(entry.inputs[0].shape,
            (std::vector<int64_t>{2, ROTOR_DYNAMIC_DIM, 64}));
  ASSERT_EQ(entry.outputs.size(), 1u);
  EXPECT_EQ(entry.outputs[0].dtype, ROTOR_BF16);
  EXPECT_TRUE(entry.outputs[0].shape.empty());
}

TEST(Manifest, ParsesTheTestArtifactManifest) {
  Manifest manifest;
  ASSERT_EQ(parse(standardManifest(), manifest), ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(manifest.entries.size(), 8u);
}

TEST(Manifest, MalformedJsonHasLineAndColumn) {
  EXPECT_THAT(parseError("{\"format\": \"rotor-artifact\",\n \"x\" 1}"),
              HasSubstr("art/manifest.json:2:6: expected ':'"));
  EXPECT_THAT(parseError(""), HasSubstr("art/manifest.json:1:1:"));
  EXPECT_THAT(parseError("[1]"),
              HasSubstr("expected a JSON object at the top level"));
}

TEST(Manifest, ChecksFormatAndVersionFirst) {
  EXPECT_THAT(parseError(R"({"format": "onnx", "format_version": 1})"),
              HasSubstr("art/manifest.json: format: expected "
                        "'rotor-artifact', got 'onnx'"));
  EXPECT_THAT(parseError(R"({"format_version": 1})"),
              HasSubstr("art/manifest.json: missing field 'format'"));
  EXPECT_THAT(parseError(R"({"format": "rotor-artifact"})"),
              HasSubstr("missing field 'format_version'"));
  EXPECT_THAT(
      parseError(R"({"format": "rotor-artifact", "format_version": "1"})"),
      HasSubstr("format_version: expected a number, got a string"));
  EXPECT_THAT(
      parseError(R"({"format": "rotor-artifact", "format_version": 1.5})"),
      HasSubstr("format_version: expected an integer"));
  // A newer manifest with unknown fields gets the version error.
  EXPECT_THAT(parseError(R"({"format": "rotor-artifact", "format_version": 2,
                             "new_field": true})",
                         ROTOR_ERR_UNSUPPORTED),
              HasSubstr("art/manifest.json: artifact format version 2 is not "
                        "supported by this runtime (supports 1)"));
  EXPECT_THAT(parseError(R"({"format": "rotor-artifact", "format_version": 0})",
                         ROTOR_ERR_UNSUPPORTED),
              HasSubstr("format version 0 is not supported"));
}

TEST(Manifest, RejectsMissingExtraAndMistypedFields) {
  EXPECT_THAT(parseError(manifestWith(forwardEntry, R"(, "extra": 1)")),
              HasSubstr("art/manifest.json: unknown field 'extra' (expected: "
                        "format, format_version, target, library, weights, "
                        "entries)"));
  EXPECT_THAT(parseError(R"({"format": "rotor-artifact", "format_version": 1,
                             "target": "cpu", "entries": []})"),
              HasSubstr("missing field 'library'"));
  EXPECT_THAT(parseError(manifestWith(forwardEntry, "", "7")),
              HasSubstr("library: expected a string, got a number"));
  EXPECT_THAT(parseError(manifestWith("")),
              HasSubstr("entries: the artifact declares no entries"));
  EXPECT_THAT(parseError(manifestWith("[]")),
              HasSubstr("entries[0]: expected an object, got an array"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
                                  "inputs": []})")),
      HasSubstr("entries[0]: missing field 'outputs'"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
                                  "inputs": [], "outputs": [], "doc": ""})")),
      HasSubstr("entries[0]: unknown field 'doc'"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
                                  "inputs": {}, "outputs": []})")),
      HasSubstr("entries[0].inputs: expected an array, got an object"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
        "inputs": [{"name": "x", "dtype": "f32"}], "outputs": []})")),
      HasSubstr("entries[0].inputs[0]: missing field 'shape'"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
        "inputs": [], "outputs": [{"name": "y", "dtype": "f32",
        "shape": [], "layout": "nchw"}]})")),
      HasSubstr("entries[0].outputs[0]: unknown field 'layout'"));
}

TEST(Manifest, ChecksTarget) {
  std::string text = manifestWith(forwardEntry);
  text.replace(text.find("\"cpu\""), 5, "\"tpu\"");
  EXPECT_THAT(parseError(text), HasSubstr("target: unknown target 'tpu' "
                                          "(expected 'cpu' or 'cuda')"));
}

TEST(Manifest, ChecksDtypes) {
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f8", "[1]"))),
              HasSubstr("art/manifest.json: entries[0].inputs[1].dtype: "
                        "unknown dtype 'f8' (expected one of f32, f64, bf16, "
                        "f16, i32, i64)"));
}

TEST(Manifest, ChecksShapes) {
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", "[4, -3]"))),
              HasSubstr("entries[0].inputs[1].shape[1]: dimension -3 is "
                        "negative (use null for a dynamic dimension)"));
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", "[2.5]"))),
              HasSubstr("shape[0]: expected a non-negative integer or null, "
                        "got a non-integer number"));
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", "[\"4\"]"))),
              HasSubstr("got a string"));
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", "4"))),
              HasSubstr("inputs[1].shape: expected an array, got a number"));
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", "[1e30]"))),
              HasSubstr("non-integer"));
  std::string tooDeep = "[";
  for (int i = 0; i < 33; ++i)
    tooDeep += i ? ", 1" : "1";
  EXPECT_THAT(parseError(manifestWith(entryWithInput("f32", tooDeep + "]"))),
              HasSubstr("rank 33 exceeds the maximum rank 32"));
}

TEST(Manifest, RejectsDuplicateNames) {
  EXPECT_THAT(
      parseError(manifestWith(std::string(forwardEntry) + "," + forwardEntry)),
      HasSubstr("entries[1].name: duplicate entry name 'forward' (also "
                "entries[0])"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
        "inputs": [{"name": "x", "dtype": "f32", "shape": []},
                   {"name": "x", "dtype": "f32", "shape": []}],
        "outputs": []})")),
      HasSubstr("entries[0].inputs[1].name: duplicate input name 'x' (also "
                "inputs[0])"));
}

TEST(Manifest, ChecksNamesAndSymbols) {
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "../evil", "symbol": "rotor_entry_e",
                                  "inputs": [], "outputs": []})")),
      HasSubstr("entries[0].name: '../evil' is not a valid entry name"));
  EXPECT_THAT(parseError(manifestWith(R"({"name": "e", "symbol": "system",
                                  "inputs": [], "outputs": []})")),
              HasSubstr("entries[0].symbol: 'system' must be a C identifier "
                        "starting with 'rotor_entry_'"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_a-b",
                                  "inputs": [], "outputs": []})")),
      HasSubstr("must be a C identifier"));
  EXPECT_THAT(
      parseError(manifestWith(R"({"name": "e", "symbol": "rotor_entry_e",
        "inputs": [{"name": "a/b", "dtype": "f32", "shape": []}],
        "outputs": []})")),
      HasSubstr("inputs[0].name: 'a/b' is not a valid argument name"));
  EXPECT_TRUE(isValidArgName("layers.0.attn-q_proj"));
  EXPECT_FALSE(isValidArgName(""));
  EXPECT_FALSE(isValidArgName(".hidden"));
  EXPECT_FALSE(isValidArgName("a b"));
}

TEST(Manifest, LibraryMustStayInTheArtifactDirectory) {
  for (const char *library : {"\"../module.so\"", "\"/lib/libc.so.6\"",
                              "\"sub/module.so\"", "\"..\"", "\".\"", "\"\""}) {
    EXPECT_THAT(parseError(manifestWith(forwardEntry, "", library)),
                HasSubstr("must be a file name inside the artifact directory"))
        << library;
  }
}

TEST(Manifest, WeightsFieldIsOptional) {
  Manifest manifest;
  ASSERT_EQ(parse(manifestWith(forwardEntry), manifest), ROTOR_OK);
  EXPECT_EQ(manifest.weights, "");
  ASSERT_EQ(
      parse(manifestWith(forwardEntry, R"(, "weights": "weights.safetensors")"),
            manifest),
      ROTOR_OK)
      << rotor_last_error();
  EXPECT_EQ(manifest.weights, "weights.safetensors");
  EXPECT_EQ(manifest.library, "module.so");
}

TEST(Manifest, WeightsMustBeAFileInTheArtifactDirectory) {
  EXPECT_THAT(parseError(manifestWith(forwardEntry, R"(, "weights": 3)")),
              HasSubstr("art/manifest.json: weights: expected a string, got "
                        "a number"));
  EXPECT_THAT(parseError(manifestWith(forwardEntry, R"(, "weights": null)")),
              HasSubstr("weights: expected a string, got null"));
  for (const char *weights : {"\"../w.safetensors\"", "\"/tmp/w.safetensors\"",
                              "\"sub/w.safetensors\"", "\"..\"", "\".\"",
                              "\"\"", "\"w\\n.safetensors\""}) {
    EXPECT_THAT(parseError(manifestWith(
                    forwardEntry, std::string(", \"weights\": ") + weights)),
                HasSubstr("art/manifest.json: weights: "))
        << weights;
    EXPECT_THAT(rotor_last_error(),
                HasSubstr("must be a file name inside the artifact directory"));
  }
  EXPECT_THAT(
      parseError(manifestWith(forwardEntry, R"(, "weights": "module.so")")),
      HasSubstr("weights: 'module.so' is also the library"));
  EXPECT_THAT(
      parseError(manifestWith(forwardEntry, R"(, "weights": "manifest.json")")),
      HasSubstr("weights: 'manifest.json' is the manifest"));
}

TEST(Manifest, ReadManifestReportsMissingFiles) {
  TempDir dir;
  Manifest manifest;
  EXPECT_EQ(readManifest(dir.file("nope"), manifest), ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("no such artifact directory"));
  EXPECT_EQ(readManifest(dir.path(), manifest), ROTOR_ERR_NOT_FOUND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("no manifest.json"));
  writeFile(dir.file("file"), "x");
  EXPECT_EQ(readManifest(dir.file("file"), manifest),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("not a directory"));
  writeFile(dir.file("manifest.json"), manifestWith(forwardEntry));
  EXPECT_EQ(readManifest(dir.path(), manifest), ROTOR_OK) << rotor_last_error();
}

TEST(Manifest, NeverCrashesOnMutations) {
  // Truncations and single-byte corruptions of a valid manifest either parse
  // or fail cleanly.
  std::string text = standardManifest();
  for (size_t n = 0; n < text.size(); n += 7) {
    Manifest manifest;
    rotor_status status = parse(text.substr(0, n), manifest);
    EXPECT_NE(status, ROTOR_OK);
    std::string mutated = text;
    mutated[n] = static_cast<char>(mutated[n] ^ 0x5a);
    status = parse(mutated, manifest);
    EXPECT_TRUE(status == ROTOR_OK || status == ROTOR_ERR_FORMAT ||
                status == ROTOR_ERR_UNSUPPORTED);
  }
}
