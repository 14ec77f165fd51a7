//===- TrainCommandTest.cpp - End-to-end tests of rotor-run train ---------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/io/Safetensors.h"
#include "rotor/train.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

class TrainCommandTest : public ::testing::Test {
protected:
  void SetUp() override { art = makeTrainArtifact(root, "art"); }

  ToolResult run(std::vector<std::string> args) {
    args.insert(args.begin(), "train");
    return runRotorRun(args, root);
  }

  std::string runError(const std::vector<std::string> &args) {
    ToolResult result = run(args);
    EXPECT_EQ(result.exitCode, 1) << result.out << result.err;
    EXPECT_THAT(result.err, HasSubstr("rotor-run: error: "));
    return result.err;
  }

  /// The copy task options the tests use, plus `extra`.
  std::vector<std::string> copyArgs(std::vector<std::string> extra) {
    std::vector<std::string> args = {art,       "--steps=40", "--batch=16",
                                     "--seq=9", "--lr=0.05",  "--warmup=5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static std::vector<std::string> lines(const std::string &text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      out.push_back(line);
    return out;
  }

  /// The "loss" values of a JSONL log, as text.
  static std::vector<std::string> losses(const std::string &jsonl) {
    std::vector<std::string> out;
    for (const std::string &line : lines(jsonl)) {
      size_t at = line.find("\"loss\": ");
      out.push_back(line.substr(at + 8, line.find(',', at) - at - 8));
    }
    return out;
  }

  TempDir root;
  std::string art;
};

} // namespace

TEST_F(TrainCommandTest, TrainsLogsPlotsAndCheckpoints) {
  std::string ckpt = root.file("ckpt");
  ToolResult result = run(copyArgs({"--log", root.file("m.jsonl"), "--plot",
                                    root.file("loss.png"), "--checkpoint-dir",
                                    ckpt, "--save-every=20"}));
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("trained 40 steps in "));
  EXPECT_THAT(result.out, HasSubstr("loss: "));
  // Not a terminal: plain progress lines with step, loss, tokens/s and ETA.
  std::vector<std::string> progress = lines(result.err);
  ASSERT_GE(progress.size(), 3u);
  EXPECT_THAT(progress.front(), StartsWith("step 1/40  loss "));
  EXPECT_THAT(progress.back(), StartsWith("step 40/40  loss "));
  EXPECT_THAT(progress.back(), HasSubstr(" tok/s  ETA 0:00"));

  std::vector<std::string> log = lines(readFileBytes(root.file("m.jsonl")));
  ASSERT_EQ(log.size(), 40u);
  EXPECT_THAT(log[0], StartsWith("{\"step\": 1, \"loss\": "));
  EXPECT_THAT(log[0], HasSubstr("\"lr\": 0.01, "));
  EXPECT_THAT(log[0], HasSubstr("\"skipped\": false, \"tokens\": 144"));
  std::vector<std::string> values = losses(readFileBytes(root.file("m.jsonl")));
  EXPECT_GT(std::stod(values.front()), 1.5);
  EXPECT_LT(std::stod(values.back()), 0.01);

  EXPECT_THAT(readFileBytes(root.file("loss.png")), StartsWith("\x89PNG"));
  EXPECT_TRUE(exists(ckpt + "/checkpoint-00000020.safetensors"));
  EXPECT_TRUE(exists(ckpt + "/checkpoint-00000040.safetensors"));
  std::unique_ptr<io::SafetensorsFile> model;
  ASSERT_EQ(io::SafetensorsFile::open(ckpt + "/model.safetensors", model),
            ROTOR_OK);
  EXPECT_EQ(model->tensors().size(), 2u);

  // CSV.
  ASSERT_EQ(run(copyArgs({"--log", root.file("m.csv"), "--quiet"})).exitCode,
            0);
  std::vector<std::string> csv = lines(readFileBytes(root.file("m.csv")));
  ASSERT_EQ(csv.size(), 41u);
  EXPECT_EQ(csv[0], "step,loss,lr,grad_norm,loss_scale,skipped,tokens,"
                    "seconds,tokens_per_s");
  EXPECT_THAT(csv[1], StartsWith("1," + values.front() + ",0.01,"));
}

TEST_F(TrainCommandTest, ResumeContinuesExactly) {
  std::string ckpt = root.file("ckpt");
  ASSERT_EQ(run({art, "--steps=40", "--batch=16", "--seq=9", "--warmup=5",
                 "--optimizer=sgd", "--momentum=0.9", "--lr=0.5", "--log",
                 root.file("whole.jsonl"), "--checkpoint-dir", ckpt,
                 "--save-every=15", "--quiet"})
                .exitCode,
            0);
  // Resuming takes the configuration from the checkpoint.
  ToolResult resumed =
      run({art, "--resume", ckpt + "/checkpoint-00000030.safetensors",
           "--log", root.file("resumed.jsonl"), "--quiet"});
  ASSERT_EQ(resumed.exitCode, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("trained 10 steps (resumed at step 30)"));
  // The log holds the whole run, and every loss is the same, digit for
  // digit (9 significant digits print an f32 exactly).
  EXPECT_EQ(losses(readFileBytes(root.file("resumed.jsonl"))),
            losses(readFileBytes(root.file("whole.jsonl"))));
  // A directory resumes from its latest checkpoint; the run is complete.
  ToolResult done = run({art, "--resume", ckpt, "--quiet"});
  EXPECT_EQ(done.exitCode, 0) << done.err;
  EXPECT_THAT(done.out, HasSubstr("trained 0 steps (resumed at step 40)"));

  // Options given again must match the checkpoint's.
  EXPECT_THAT(runError({art, "--resume", ckpt, "--lr=0.01"}),
              HasSubstr("--lr=0.01 differs from the checkpoint's lr=0.5"));
  EXPECT_EQ(run({art, "--resume", ckpt, "--lr=0.5", "--optimizer=sgd",
                 "--quiet"})
                .exitCode,
            0);
  EXPECT_THAT(runError({art, "--resume", root.file("nothing")}),
              HasSubstr("--resume: "));
  EXPECT_THAT(runError({art, "--resume", root.path()}),
              HasSubstr("no checkpoint-*.safetensors in"));
  EXPECT_THAT(runError({art, "--resume", ckpt + "/model.safetensors"}),
              HasSubstr("not a rotor training checkpoint"));
}

/// The tensor `name` of `file` as i64 values, checking its shape.
static std::vector<int64_t> readI64(const io::SafetensorsFile &file,
                                    const std::string &name,
                                    const std::vector<int64_t> &shape) {
  const io::SafetensorsTensorInfo *info = file.find(name);
  EXPECT_TRUE(info) << name;
  if (!info)
    return {};
  EXPECT_EQ(info->dtypeName, "I64");
  EXPECT_EQ(info->shape, shape);
  TensorPtr tensor;
  EXPECT_EQ(file.load(name, tensor), ROTOR_OK);
  const int64_t *data =
      static_cast<const int64_t *>(rotor_tensor_data(tensor.get()));
  return std::vector<int64_t>(data, data + rotor_tensor_numel(tensor.get()));
}

TEST_F(TrainCommandTest, DumpsTheBatchesOfTheRun) {
  std::string ckpt = root.file("ckpt");
  ASSERT_EQ(run(copyArgs({"--task=sort", "--seed=7", "--dump-batches",
                          root.file("all.safetensors"), "--checkpoint-dir",
                          ckpt, "--save-every=30", "--quiet"}))
                .exitCode,
            0);
  std::unique_ptr<io::SafetensorsFile> file;
  ASSERT_EQ(io::SafetensorsFile::open(root.file("all.safetensors"), file),
            ROTOR_OK);
  std::vector<int64_t> ids = readI64(*file, "input_ids", {40, 16, 9});
  std::vector<int64_t> labels = readI64(*file, "labels", {40, 16, 9});
  ASSERT_EQ(ids.size(), 40u * 16 * 9);
  ASSERT_EQ(labels.size(), ids.size());
  // Batch t is the one the trainer makes for step t + 1: the task's batch t
  // for the run's seed and the artifact's vocabulary.
  train::SyntheticTask task(train::TaskKind::Sort, trainVocab, 7);
  for (int64_t t : {0, 1, 17, 39}) {
    train::Batch batch = task.make(static_cast<uint64_t>(t), 16, 9);
    EXPECT_TRUE(std::equal(batch.inputIds.begin(), batch.inputIds.end(),
                           ids.begin() + t * 144))
        << "batch " << t;
    EXPECT_TRUE(std::equal(batch.labels.begin(), batch.labels.end(),
                           labels.begin() + t * 144))
        << "batch " << t;
  }
  std::map<std::string, std::string> meta(file->metadata().begin(),
                                          file->metadata().end());
  EXPECT_EQ(meta["rotor.train.task"], "sort");
  EXPECT_EQ(meta["rotor.train.seed"], "7");
  EXPECT_EQ(meta["rotor.train.lr"], "0.05");
  EXPECT_EQ(meta["rotor.train.warmup"], "5");
  EXPECT_EQ(meta["rotor.train.weight-decay"], "0.01");
  EXPECT_EQ(meta["rotor.train.first_batch"], "0");

  // A resumed run dumps the batches still to come.
  ASSERT_EQ(run({art, "--resume", ckpt + "/checkpoint-00000030.safetensors",
                 "--dump-batches", root.file("rest.safetensors"), "--quiet"})
                .exitCode,
            0);
  std::unique_ptr<io::SafetensorsFile> rest;
  ASSERT_EQ(io::SafetensorsFile::open(root.file("rest.safetensors"), rest),
            ROTOR_OK);
  std::vector<int64_t> restIds = readI64(*rest, "input_ids", {10, 16, 9});
  EXPECT_TRUE(std::equal(restIds.begin(), restIds.end(),
                         ids.begin() + 30 * 144));
  std::map<std::string, std::string> restMeta(rest->metadata().begin(),
                                              rest->metadata().end());
  EXPECT_EQ(restMeta["rotor.train.first_batch"], "30");

  EXPECT_THAT(runError({art, "--dump-batches", root.file("b.npz")}),
              HasSubstr("--dump-batches: '"));
  EXPECT_THAT(runError({art, "--dump-batches", root.file("b.npz")}),
              HasSubstr("must end in .safetensors"));
  EXPECT_THAT(runError({art, "--dump-batches",
                        root.file("no/such/dir/b.safetensors")}),
              HasSubstr("--dump-batches: "));
}

TEST_F(TrainCommandTest, UsageErrors) {
  EXPECT_THAT(runError({}), HasSubstr("no artifact directory given"));
  EXPECT_THAT(runError({art, art}), HasSubstr("unexpected argument"));
  EXPECT_THAT(runError({art, "--task=reverse"}),
              HasSubstr("--task: 'reverse' is not a task (copy or sort)"));
  EXPECT_THAT(runError({art, "--steps=0"}),
              HasSubstr("--steps: 0 must be at least 1"));
  EXPECT_THAT(runError({art, "--lr=abc"}),
              HasSubstr("--lr: 'abc' is not a finite number"));
  EXPECT_THAT(runError({art, "--optimizer=adam"}),
              HasSubstr("is not an optimizer (adamw or sgd)"));
  EXPECT_THAT(runError({art, "--optimizer=sgd", "--nesterov"}),
              HasSubstr("Nesterov momentum needs momentum > 0"));
  EXPECT_THAT(runError({art, "--steps=10", "--warmup=20"}),
              HasSubstr("--warmup: 20 warmup steps exceed the 10 steps"));
  EXPECT_THAT(runError({art, "--log", root.file("m.txt")}),
              HasSubstr("must end in .jsonl (JSON lines) or .csv"));
  EXPECT_THAT(runError({art, "--plot", root.file("loss.jpg")}),
              HasSubstr("must end in .png"));
  EXPECT_THAT(runError({art, "--save-every=5"}),
              HasSubstr("--save-every needs --checkpoint-dir"));
  EXPECT_THAT(runError({art, "--loss-scale=dynamic"}),
              HasSubstr("needs an input 'loss_scale'"));
  EXPECT_THAT(runError({art, "--nesterov=1"}),
              HasSubstr("does not take a value"));
  EXPECT_THAT(runError({root.file("missing")}), HasSubstr("missing"));
  std::string notTrainable = makeArtifact(root, "plain", standardManifest());
  EXPECT_THAT(runError({notTrainable}), HasSubstr("rotorc --train"));
  writeFile(root.file("file"), "x");
  EXPECT_THAT(runError({art, "--checkpoint-dir", root.file("file")}),
              HasSubstr("--checkpoint-dir: cannot create directory"));
}

TEST_F(TrainCommandTest, Help) {
  ToolResult result = runRotorRun({"train", "--help"}, root);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.out, HasSubstr("USAGE: rotor-run train ARTIFACT_DIR"));
  EXPECT_THAT(result.out, HasSubstr("--checkpoint-dir=DIR"));
  EXPECT_THAT(runRotorRun({"--help"}, root).out,
              HasSubstr("train     train a train_step artifact"));
}
