//===- RotorRunTest.cpp - End-to-end tests of the rotor-run tool ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/io/Npy.h"
#include "rotor/io/Safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace rotor;
using namespace rotor::io;
using namespace rotor::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

/// Creates the test artifacts and runs rotor-run.
class RotorRunTest : public ::testing::Test {
protected:
  void SetUp() override {
    art = makeArtifact(root, "art", standardManifest());
    single = makeArtifact(root, "single", addOnlyManifest());
  }

  /// Runs rotor-run with `args`, capturing its output.
  ToolResult run(const std::vector<std::string> &args) {
    return runRotorRun(args, root);
  }

  /// Runs rotor-run expecting exit code 1 and "rotor-run: error: ...".
  std::string runError(const std::vector<std::string> &args) {
    ToolResult result = run(args);
    EXPECT_EQ(result.exitCode, 1) << result.out << result.err;
    EXPECT_THAT(result.err, HasSubstr("rotor-run: error: "));
    return result.err;
  }

  /// Runs rotor-run expecting success; returns stdout.
  std::string runOk(const std::vector<std::string> &args) {
    ToolResult result = run(args);
    EXPECT_EQ(result.exitCode, 0) << result.err;
    EXPECT_EQ(result.err, "");
    return result.out;
  }

  void saveNpy(const std::string &name, const TensorPtr &tensor) {
    ASSERT_EQ(writeNpy(root.file(name), tensor.get()), ROTOR_OK)
        << rotor_last_error();
  }

  TensorPtr loadNpy(const std::string &path) {
    TensorPtr tensor;
    EXPECT_EQ(readNpy(path, tensor), ROTOR_OK) << rotor_last_error();
    return tensor;
  }

  TempDir root;
  std::string art, single;
};

} // namespace

TEST_F(RotorRunTest, Help) {
  std::string out = runOk({"--help"});
  EXPECT_THAT(out, HasSubstr("USAGE: rotor-run [run] ARTIFACT_DIR [options]"));
  EXPECT_THAT(out, HasSubstr("--random-inputs"));
  EXPECT_THAT(out, HasSubstr("-o OUT"));
  EXPECT_THAT(out, HasSubstr("SUBCOMMANDS"));
  EXPECT_THAT(runOk({"run", "--help"}), HasSubstr("USAGE"));
}

TEST_F(RotorRunTest, ListsEntries) {
  std::string out = runOk({art, "--list"});
  EXPECT_THAT(
      out, HasSubstr("add(a: f32[?, 5], b: f32[?, 5]) -> (sum: f32[?, 5])\n"));
  EXPECT_THAT(out, HasSubstr("sum(x: f32[?, 5]) -> (total: f32[])\n"));
  EXPECT_THAT(out, HasSubstr("split(x: i32[?]) -> (head: i32[?], tail: "
                             "i32[?])\n"));
  EXPECT_EQ(runOk({"run", "--list", art}), out);
}

TEST_F(RotorRunTest, UsageErrors) {
  EXPECT_THAT(runError({}), HasSubstr("no artifact directory given"));
  EXPECT_THAT(runError({art, "--bogus"}),
              HasSubstr("unknown option '--bogus'"));
  EXPECT_THAT(runError({art, "--list=yes"}),
              HasSubstr("option '--list' does not take a value"));
  EXPECT_THAT(runError({art, "--entry"}),
              HasSubstr("option '--entry' requires a value"));
  EXPECT_THAT(runError({art, "--entry=add", "--entry=sum"}),
              HasSubstr("option '--entry' may only be given once"));
  EXPECT_THAT(runError({art, art}), HasSubstr("unexpected argument"));
  EXPECT_THAT(runError({art, "--repeat=0"}),
              HasSubstr("--repeat must be a positive integer, got '0'"));
  EXPECT_THAT(runError({art, "--seed=-1"}),
              HasSubstr("--seed must be a non-negative integer"));
  EXPECT_THAT(runError({art, "--device=tpu"}),
              HasSubstr("--device: unknown device 'tpu'"));
}

TEST_F(RotorRunTest, LoadErrors) {
  EXPECT_THAT(runError({root.file("absent")}),
              HasSubstr("absent: no such artifact directory"));
#ifdef ROTOR_HAVE_CUDA
  EXPECT_THAT(runError({art, "--device=cuda"}),
              HasSubstr("compiled for target 'cpu' and cannot run on device "
                        "'cuda'"));
#else
  EXPECT_THAT(runError({art, "--device=cuda"}),
              HasSubstr("device 'cuda' is not supported"));
#endif
}

TEST_F(RotorRunTest, ChoosesTheEntry) {
  EXPECT_THAT(runError({art, "--random-inputs"}),
              HasSubstr("the artifact has 8 entries (add, sum, transpose, "
                        "split, identity, negate, misbehave, alignment) and "
                        "none is named 'forward'; choose one with "
                        "--entry=NAME"));
  EXPECT_THAT(runError({art, "--entry=nope"}),
              HasSubstr("unknown entry 'nope'"));
  // The only entry is the default.
  std::string out =
      runOk({single, "--random-inputs", "--shape", "a=1x5", "--shape=b=1x5"});
  EXPECT_THAT(out, HasSubstr("sum: f32[1x5] min="));
  // So is 'forward'.
  std::string dir = makeArtifact(root, "fwd", addOnlyManifest("forward"));
  EXPECT_THAT(runOk({dir, "--random-inputs", "--shape=a=2x5", "--shape=b=2x5"}),
              HasSubstr("sum: f32[2x5]"));
}

TEST_F(RotorRunTest, NpyInputsToOutputDirectory) {
  saveNpy("a.npy",
          makeTensor(ROTOR_F32, {2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  saveNpy("b.npy", makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 10)));
  std::string outDir = root.file("out/nested");
  EXPECT_EQ(runOk({art, "--entry=add", "--input", "a=" + root.file("a.npy"),
                   "--input=b=" + root.file("b.npy"), "-o", outDir}),
            "");
  TensorPtr sum = loadNpy(outDir + "/sum.npy");
  ASSERT_TRUE(sum);
  EXPECT_EQ(tensorShape(sum.get()), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(tensorValues(sum.get()),
            (std::vector<double>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
}

TEST_F(RotorRunTest, SafetensorsInAndOut) {
  TensorPtr x = makeTensor(ROTOR_I32, {4}, {1, 2, 3, 4});
  ASSERT_EQ(writeSafetensors(root.file("in.safetensors"), {{"x", x.get()}}),
            ROTOR_OK);
  std::string out = root.file("out.safetensors");
  runOk({art, "--entry=split", "--inputs=" + root.file("in.safetensors"), "-o",
         out});
  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(SafetensorsFile::open(out, file), ROTOR_OK) << rotor_last_error();
  TensorPtr head, tail;
  ASSERT_EQ(file->load("head", head), ROTOR_OK);
  ASSERT_EQ(file->load("tail", tail), ROTOR_OK);
  EXPECT_EQ(tensorValues(head.get()), (std::vector<double>{1, 2}));
  EXPECT_EQ(tensorValues(tail.get()), (std::vector<double>{4, 3}));

  TensorPtr extra = makeTensor(ROTOR_I32, {1}, {1});
  ASSERT_EQ(writeSafetensors(root.file("extra.safetensors"),
                             {{"x", x.get()}, {"y", extra.get()}}),
            ROTOR_OK);
  EXPECT_THAT(runError({art, "--entry=split",
                        "--inputs=" + root.file("extra.safetensors")}),
              HasSubstr("extra.safetensors: entry 'split' has no input 'y' "
                        "(inputs: x)"));
}

TEST_F(RotorRunTest, SingleOutputToNpyFile) {
  saveNpy("x.npy", makeTensor(ROTOR_F64, {1, 3}, {1, 2, 3}));
  runOk({art, "--entry=transpose", "--input=x=" + root.file("x.npy"), "-o",
         root.file("y.npy")});
  TensorPtr y = loadNpy(root.file("y.npy"));
  ASSERT_TRUE(y);
  EXPECT_EQ(tensorShape(y.get()), (std::vector<int64_t>{3, 1}));
  EXPECT_THAT(runError({art, "--entry=split", "--random-inputs", "--shape=x=4",
                        "-o", root.file("z.npy")}),
              HasSubstr("entry 'split' has 2 outputs; write them to a "
                        "directory or a .safetensors file"));
  EXPECT_FALSE(exists(root.file("z.npy")));
}

TEST_F(RotorRunTest, RandomInputsAreSeeded) {
  std::vector<std::string> args = {art, "--entry=add", "--random-inputs",
                                   "--shape=a=3x5", "--shape=b=3x5"};
  auto runWithSeed = [&](const std::string &seed, const std::string &name) {
    std::vector<std::string> withSeed = args;
    withSeed.push_back("--seed=" + seed);
    withSeed.push_back("-o");
    withSeed.push_back(root.file(name));
    runOk(withSeed);
    return readFileBytes(root.file(name));
  };
  std::string first = runWithSeed("7", "r1.safetensors");
  EXPECT_EQ(runWithSeed("7", "r2.safetensors"), first);
  EXPECT_NE(runWithSeed("8", "r3.safetensors"), first);

  std::unique_ptr<SafetensorsFile> file;
  ASSERT_EQ(SafetensorsFile::open(root.file("r1.safetensors"), file), ROTOR_OK);
  TensorPtr sum;
  ASSERT_EQ(file->load("sum", sum), ROTOR_OK);
  for (double value : tensorValues(sum.get())) {
    EXPECT_GE(value, -2.0);
    EXPECT_LT(value, 2.0);
    // Each input is a multiple of 2^-23.
    EXPECT_EQ(value * std::ldexp(1.0, 23),
              std::floor(value * std::ldexp(1.0, 23)));
  }
}

TEST_F(RotorRunTest, RandomIntegersAndScalars) {
  std::string out = runOk(
      {art, "--entry=identity", "--random-inputs", "-o", root.file("ids")});
  TensorPtr y = loadNpy(root.file("ids/y.npy"));
  ASSERT_TRUE(y);
  for (double value : tensorValues(y.get())) {
    EXPECT_GE(value, 0);
    EXPECT_LT(value, 16);
  }
}

TEST_F(RotorRunTest, InputErrors) {
  EXPECT_THAT(runError({art, "--entry=add", "--random-inputs"}),
              HasSubstr("input 'a' of entry 'add' has dynamic dimension 0 "
                        "(shape [?, 5]); give its size with --shape a=8x5"));
  EXPECT_THAT(
      runError({art, "--entry=add", "--random-inputs", "--shape=a=3x4"}),
      HasSubstr("--shape a=3x4: input 'a' of entry 'add' has shape "
                "[?, 5]"));
  EXPECT_THAT(runError({art, "--entry=add", "--shape=a=3xq"}),
              HasSubstr("the shape must be non-negative integers joined by "
                        "'x'"));
  EXPECT_THAT(runError({art, "--entry=add", "--shape=c=3x5"}),
              HasSubstr("--shape c=3x5: entry 'add' has no input 'c' "
                        "(inputs: a, b)"));
  saveNpy("a.npy", makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 1)));
  EXPECT_THAT(runError({art, "--entry=add", "--input=a=" + root.file("a.npy")}),
              HasSubstr("input 'b' of entry 'add' is not given (use --input "
                        "b=FILE.npy, --inputs=FILE.safetensors or "
                        "--random-inputs)"));
  EXPECT_THAT(runError({art, "--entry=add", "--input=a"}),
              HasSubstr("--input expects NAME=FILE.npy, got 'a'"));
  EXPECT_THAT(runError({art, "--entry=add", "--input=a=" + root.file("a.npy"),
                        "--input=a=" + root.file("a.npy")}),
              HasSubstr("input 'a' is given twice by --input"));
  saveNpy("d.npy", makeTensor(ROTOR_F64, {2, 5}, std::vector<double>(10, 1)));
  EXPECT_THAT(runError({art, "--entry=add", "--random-inputs", "--shape=b=2x5",
                        "--input=a=" + root.file("d.npy")}),
              HasSubstr("d.npy: dtype is f64 but input 'a' of entry 'add' is "
                        "f32"));
  saveNpy("w.npy", makeTensor(ROTOR_F32, {2, 4}, std::vector<double>(8, 1)));
  EXPECT_THAT(runError({art, "--entry=add", "--random-inputs", "--shape=b=2x5",
                        "--input=a=" + root.file("w.npy")}),
              HasSubstr("w.npy: shape [2, 4] does not match input 'a' of "
                        "entry 'add' (shape [?, 5])"));
  EXPECT_THAT(runError({art, "--entry=add", "--random-inputs", "--shape=b=2x5",
                        "--input=a=" + root.file("none.npy")}),
              HasSubstr("none.npy: cannot open"));
  writeFile(root.file("bad.npy"), "garbage");
  EXPECT_THAT(runError({art, "--entry=add", "--random-inputs", "--shape=b=2x5",
                        "--input=a=" + root.file("bad.npy")}),
              HasSubstr("bad.npy: not a .npy file"));
}

TEST_F(RotorRunTest, SummaryWithoutOutputPath) {
  saveNpy("x.npy", makeTensor(ROTOR_F32, {2, 5}, std::vector<double>(10, 1.5)));
  std::string out =
      runOk({art, "--entry=sum", "--input=x=" + root.file("x.npy")});
  EXPECT_EQ(out, "total: f32[] min=15 max=15 mean=15\n  [15]\n");
  out = runOk({art, "--entry=add", "--random-inputs", "--shape=a=4x5",
               "--shape=b=4x5"});
  EXPECT_THAT(out, HasSubstr(", ...] (first 8 of 20)\n"));
  out = runOk({art, "--entry=add", "--random-inputs", "--shape=a=0x5",
               "--shape=b=0x5"});
  EXPECT_EQ(out, "sum: f32[0x5] (no elements)\n");
}

TEST_F(RotorRunTest, RepeatPrintsTimings) {
  std::string out =
      runOk({art, "--entry=add", "--random-inputs", "--shape=a=2x5",
             "--shape=b=2x5", "--repeat=3", "-o", root.file("t")});
  EXPECT_THAT(out, HasSubstr("timing: 3 runs of 'add': min "));
  EXPECT_THAT(out, HasSubstr(" ms, median "));
  EXPECT_THAT(out, HasSubstr(" ms, mean "));
}

TEST_F(RotorRunTest, BF16GoesThroughNpyAsF32OrU2) {
  saveNpy("x.npy", makeTensor(ROTOR_F32, {3}, {1.5, -2, 0.1}));
  runOk({art, "--entry=negate", "--input=x=" + root.file("x.npy"), "-o",
         root.file("n")});
  TensorPtr y = loadNpy(root.file("n/y.npy"));
  ASSERT_TRUE(y);
  EXPECT_EQ(rotor_tensor_dtype(y.get()), ROTOR_F32);
  std::vector<double> values = tensorValues(y.get());
  EXPECT_EQ(values[0], -1.5);
  EXPECT_EQ(values[1], 2.0);
  EXPECT_NEAR(values[2], -0.1, 1e-3); // Rounded to bf16.

  runOk({art, "--entry=negate", "--input=x=" + root.file("x.npy"), "-o",
         root.file("u"), "--bf16-as-u2"});
  EXPECT_THAT(readFileBytes(root.file("u/y.npy")), HasSubstr("'<u2'"));
  // ... and reads back as bf16 with the flag.
  runOk({art, "--entry=negate", "--input=x=" + root.file("u/y.npy"), "-o",
         root.file("v"), "--bf16-as-u2"});
  NpyReadOptions options;
  options.u2AsBF16 = true;
  TensorPtr twice;
  ASSERT_EQ(readNpy(root.file("v/y.npy"), twice, options), ROTOR_OK);
  EXPECT_EQ(tensorValues(twice.get())[0], 1.5);
  EXPECT_THAT(
      runError({art, "--entry=negate", "--input=x=" + root.file("u/y.npy")}),
      HasSubstr("'<u2' (uint16) arrays are only read as bf16"));
}

TEST_F(RotorRunTest, OutputPathErrors) {
  writeFile(root.file("file"), "x");
  EXPECT_THAT(runError({art, "--entry=identity", "--random-inputs", "-o",
                        root.file("file")}),
              HasSubstr("cannot create the output directory"));
  EXPECT_THAT(runError({art, "--entry=identity", "--random-inputs", "-o="}),
              HasSubstr("-o needs a non-empty path"));
}

TEST_F(RotorRunTest, BackendErrorsAreReported) {
  EXPECT_THAT(runError({art, "--entry=misbehave", "--random-inputs"}),
              HasSubstr("entry 'misbehave' output 0 ('y'): the entry returned "
                        "size 3 for dimension 0 but the manifest declares 4"));
}

//===----------------------------------------------------------------------===//
// Weights files and `generate`, on the tiny language model of TestArtifact.c
//===----------------------------------------------------------------------===//

namespace {

/// The comma-separated ids, as `generate` prints them.
std::string joinIds(const std::vector<int64_t> &ids) {
  std::string out;
  for (int64_t id : ids)
    out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

/// The lines of `text` starting with `prefix`.
std::vector<std::string> linesStartingWith(const std::string &text,
                                           const std::string &prefix) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.compare(0, prefix.size(), prefix) == 0)
      out.push_back(line);
    start = end + 1;
  }
  return out;
}

class RotorRunModelTest : public RotorRunTest {
protected:
  void SetUp() override {
    RotorRunTest::SetUp();
    lm = makeLm("lm", lmManifest());
  }

  /// An artifact of the language model with `manifest`, with weights.
  std::string makeLm(const std::string &name, const std::string &manifest) {
    std::string dir = makeArtifact(root, name, manifest);
    writeLmWeights(dir);
    return dir;
  }

  std::string lm;
};

} // namespace

TEST_F(RotorRunModelTest, ListMarksWeights) {
  std::string out = runOk({lm, "--list"});
  EXPECT_THAT(out, HasSubstr("weights: " + lm +
                             "/weights.safetensors (2 tensors; inputs marked "
                             "(weights) are bound to it unless given)\n"));
  EXPECT_THAT(out, HasSubstr("forward(input_ids: i64[1, ?], table: i64[16] "
                             "(weights), bias: f32[16] (weights)) -> (logits: "
                             "f32[1, ?, 16])\n"));
  // Without a weights file, nothing is marked.
  EXPECT_THAT(runOk({art, "--list"}), Not(HasSubstr("weights")));
}

TEST_F(RotorRunModelTest, RunBindsWeightsAutomatically) {
  saveNpy("ids.npy", makeTensor(ROTOR_I64, {1, 3}, {1, 5, 9}));
  std::string out = root.file("logits.npy");
  EXPECT_EQ(runOk({lm, "--input=input_ids=" + root.file("ids.npy"), "-o", out}),
            "");
  TensorPtr logits = loadNpy(out);
  ASSERT_TRUE(logits);
  EXPECT_EQ(tensorShape(logits.get()), (std::vector<int64_t>{1, 3, 16}));
  std::vector<double> values = tensorValues(logits.get());
  EXPECT_EQ(values[9], 1 + 9 / 1024.0); // Row 0 predicts table[1] = 9.

  // Random data only for the data inputs; the weights stay.
  EXPECT_THAT(runOk({lm, "--random-inputs", "--shape=input_ids=1x4"}),
              HasSubstr("logits: f32[1x4x16] min=0 max="));

  // A file may still give a weight.
  TensorPtr bias = makeTensor(ROTOR_F32, {16}, std::vector<double>(16, 5));
  ASSERT_EQ(
      writeSafetensors(root.file("bias.safetensors"), {{"bias", bias.get()}}),
      ROTOR_OK);
  EXPECT_THAT(runOk({lm, "--random-inputs", "--shape=input_ids=1x4",
                     "--inputs=" + root.file("bias.safetensors")}),
              HasSubstr("logits: f32[1x4x16] min=5 max=6 "));

  EXPECT_THAT(runError({lm, "--random-inputs", "--shape=input_ids=1x4",
                        "--shape=table=8"}),
              HasSubstr("--shape table=8: input 'table' of entry 'forward' "
                        "has shape [16]"));
  EXPECT_THAT(runError({lm, "--entry=decode", "--random-inputs"}),
              HasSubstr("input 'k_cache.0' of entry 'decode' has dynamic "
                        "dimension 1"));
  EXPECT_THAT(runError({lm}),
              HasSubstr("input 'input_ids' of entry 'forward' is not given"));
}

TEST_F(RotorRunModelTest, GenerateWithCacheMatchesRecompute) {
  std::vector<std::string> args = {"generate", lm, "--prompt-ids=1,5,9",
                                   "--max-new-tokens=8", "--print-logits"};
  std::string cached = runOk(args);
  args.push_back("--recompute");
  std::string recomputed = runOk(args);

  std::string expected = "generated: " + joinIds(lmExpected({1, 5, 9}, 8));
  EXPECT_EQ(linesStartingWith(cached, "generated: "),
            std::vector<std::string>{expected});
  EXPECT_EQ(linesStartingWith(recomputed, "generated: "),
            std::vector<std::string>{expected});
  std::vector<std::string> steps = linesStartingWith(cached, "step ");
  ASSERT_EQ(steps.size(), 8u);
  EXPECT_EQ(steps, linesStartingWith(recomputed, "step "));
  EXPECT_THAT(steps[0],
              HasSubstr("step 0: token 4, logits [0, 0.0009765625, "));

  EXPECT_THAT(cached, HasSubstr("prefill: 3 prompt tokens in "));
  EXPECT_THAT(cached, HasSubstr("decode: 7 tokens in "));
  EXPECT_THAT(cached, HasSubstr("total: 8 new tokens in "));
  EXPECT_THAT(cached, HasSubstr(" tokens/s)\n"));
  EXPECT_THAT(recomputed, HasSubstr("forward: 8 calls in "));

  // Without --print-logits only the ids and timings are printed.
  std::string plain =
      runOk({"generate", lm, "--prompt-ids", "3", "--max-new-tokens", "1"});
  EXPECT_THAT(plain, HasSubstr("generated: " + joinIds(lmExpected({3}, 1)) +
                               "\nprefill: 1 prompt tokens in "));
  EXPECT_THAT(plain, HasSubstr("decode: 0 tokens in "));
  EXPECT_TRUE(linesStartingWith(plain, "step ").empty());

  // A long generation keeps matching (the caches grow to 41 positions).
  std::vector<int64_t> prompt = {0};
  std::string longCached =
      runOk({"generate", lm, "--prompt-ids=0", "--max-new-tokens=40"});
  EXPECT_THAT(longCached, HasSubstr("generated: " +
                                    joinIds(lmExpected(prompt, 40)) + "\n"));
}

TEST_F(RotorRunModelTest, GenerateHelpAndUsageErrors) {
  std::string help = runOk({"generate", "--help"});
  EXPECT_THAT(help, HasSubstr("USAGE: rotor-run generate ARTIFACT_DIR"));
  EXPECT_THAT(help, HasSubstr("--recompute"));
  EXPECT_THAT(runOk({"--help"}), HasSubstr("  generate  greedy token "));

  EXPECT_THAT(runError({"generate"}), HasSubstr("no artifact directory given"));
  EXPECT_THAT(runError({"generate", lm, "--max-new-tokens=2"}),
              HasSubstr("--prompt-ids is required"));
  EXPECT_THAT(runError({"generate", lm, "--prompt-ids=1"}),
              HasSubstr("--max-new-tokens is required"));
  for (const char *ids :
       {"--prompt-ids=", "--prompt-ids=1,,2", "--prompt-ids=-1",
        "--prompt-ids=1,x", "--prompt-ids=1,"})
    EXPECT_THAT(runError({"generate", lm, ids, "--max-new-tokens=2"}),
                HasSubstr("--prompt-ids must be non-negative integers "
                          "separated by ','"))
        << ids;
  for (const char *count :
       {"--max-new-tokens=0", "--max-new-tokens=x", "--max-new-tokens=-3"})
    EXPECT_THAT(runError({"generate", lm, "--prompt-ids=1", count}),
                HasSubstr("--max-new-tokens must be a positive integer"))
        << count;
  EXPECT_THAT(
      runError({"generate", lm, "--prompt-ids=1,16", "--max-new-tokens=2"}),
      HasSubstr("--prompt-ids: token id 16 is out of range for "
                "vocabulary size 16"));
  EXPECT_THAT(
      runError({"generate", lm, lm, "--prompt-ids=1", "--max-new-tokens=2"}),
      HasSubstr("unexpected argument"));
  EXPECT_THAT(runError({"generate", root.file("absent"), "--prompt-ids=1",
                        "--max-new-tokens=2"}),
              HasSubstr("no such artifact directory"));
}

TEST_F(RotorRunModelTest, GenerateChecksTheModelContract) {
  std::vector<std::string> flags = {"--prompt-ids=1,2", "--max-new-tokens=3"};
  auto generate = [&](const std::string &dir,
                      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"generate", dir};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return runError(args);
  };
  EXPECT_THAT(generate(art),
              HasSubstr("the artifact has no entry 'prefill' (it has: add, "
                        "sum, transpose, split, identity, negate, misbehave, "
                        "alignment); generation with a KV cache needs "
                        "'prefill' and 'decode'"));
  EXPECT_THAT(generate(art, {"--recompute"}),
              HasSubstr("unknown entry 'forward'"));

  // Every other input must be a weight.
  std::string noWeights = makeArtifact(root, "nw", lmManifest(""));
  EXPECT_THAT(generate(noWeights),
              HasSubstr("input 'table' of entry 'prefill' is neither "
                        "'input_ids' nor a tensor of the weights file"));
  EXPECT_THAT(generate(noWeights, {"--recompute"}),
              HasSubstr("input 'table' of entry 'forward' is neither "
                        "'input_ids' nor a tensor of the weights file"));

  // decode must return every cache it takes.
  std::string manifest = lmManifest();
  size_t last = manifest.rfind("\"v_cache.1\"");
  std::string renamed = manifest;
  renamed.replace(last, 11, "\"v_cache.9\"");
  EXPECT_THAT(generate(makeLm("renamed", renamed)),
              HasSubstr("entry 'decode' takes cache 'v_cache.1' (an output of "
                        "'prefill') but does not return it"));

  // Logits that are all NaN stop generation.
  std::string nan =
      makeLm("nan", lmManifest(R"(, "weights": "weights.safetensors")",
                               "rotor_entry_lm_nan"));
  EXPECT_THAT(generate(nan, {"--recompute"}),
              HasSubstr("step 0: entry 'forward' returned logits of shape "
                        "[1, 2, 16]: every logit of the last position is "
                        "NaN"));
  // Other prompt ids dtype, rank and batch problems.
  std::string i32 = manifest;
  i32.replace(i32.find("\"i64\", \"shape\": [1, null]"), 5, "\"f32\"");
  EXPECT_THAT(generate(makeLm("f32ids", i32)),
              HasSubstr("entry 'prefill' input 'input_ids' has dtype f32; "
                        "expected i64 (or i32)"));
  std::string batch = manifest;
  batch.replace(batch.find("[1, 1]"), 6, "[2, 1]");
  EXPECT_THAT(generate(makeLm("batch", batch)),
              HasSubstr("entry 'decode' input 'input_ids' has batch size 2; "
                        "generate runs batch size 1"));
}
