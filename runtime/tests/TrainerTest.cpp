//===- TrainerTest.cpp - The training loop on a hand-written artifact -----===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Trains TrainArtifact.c's copy model through the Trainer: the loss falls to
// near zero, the first steps match an f64 reference of the whole loop (model,
// clipping, schedule, AdamW or SGD), checkpoints resume bit-identically, loss
// scaling skips overflowing steps, a RoPE base is learned in log space, and
// bad artifacts and checkpoints are rejected with messages naming the
// problem.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "TrainReference.h"
#include "rotor/io/Safetensors.h"
#include "rotor/train.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dirent.h>

using namespace rotor;
using namespace rotor::test;
using namespace rotor::train;
using ::testing::HasSubstr;

namespace {

class TrainerTest : public ::testing::Test {
protected:
  /// Loads artifact `dir` (kept alive by the fixture).
  rotor_artifact *load(const std::string &dir) {
    rotor_artifact *artifact = nullptr;
    EXPECT_EQ(rotor_artifact_load(dir.c_str(), ROTOR_DEVICE_CPU, &artifact),
              ROTOR_OK)
        << rotor_last_error();
    artifacts.emplace_back(artifact);
    return artifact;
  }

  /// The copy task on the train artifact, as the tests run it.
  static TrainConfig copyConfig(int64_t steps = 60) {
    TrainConfig config;
    for (auto [name, value] :
         std::vector<std::pair<std::string, std::string>>{
             {"steps", std::to_string(steps)},
             {"batch", "16"},
             {"seq", "9"},
             {"lr", "0.05"},
             {"warmup", "10"},
             {"min-lr", "0.001"},
             {"clip", "1"},
             {"seed", "3"}})
      EXPECT_EQ(config.set(name, value), ROTOR_OK) << rotor_last_error();
    return config;
  }

  std::unique_ptr<Trainer> makeTrainer(rotor_artifact *artifact,
                                       const TrainConfig &config) {
    std::unique_ptr<Trainer> trainer;
    EXPECT_EQ(Trainer::create(artifact, config, trainer), ROTOR_OK)
        << rotor_last_error();
    return trainer;
  }

  /// Runs steps until `until`; returns their losses.
  std::vector<double> train(Trainer &trainer, int64_t until) {
    std::vector<double> losses;
    while (trainer.iteration() < until) {
      StepMetrics metrics;
      EXPECT_EQ(trainer.step(metrics), ROTOR_OK) << rotor_last_error();
      if (HasFailure())
        break;
      losses.push_back(metrics.loss);
    }
    return losses;
  }

  TempDir root;
  std::vector<ArtifactPtr> artifacts;
};

/// The bits of every parameter value.
std::vector<uint32_t> parameterBits(const Trainer &trainer) {
  std::vector<uint32_t> bits;
  for (const Parameter &param : trainer.parameters())
    for (float value : param.value) {
      uint32_t word;
      std::memcpy(&word, &value, 4);
      bits.push_back(word);
    }
  return bits;
}

/// The copy model of TrainArtifact.c in f64, written again from its
/// definition: returns the loss and sets the gradients.
double referenceLoss(const Batch &batch, const std::vector<double> &E,
                     const std::vector<double> &G, std::vector<double> &dE,
                     std::vector<double> &dG) {
  const int64_t H = trainHidden, V = trainVocab, K = trainGates;
  dE.assign(E.size(), 0.0);
  dG.assign(G.size(), 0.0);
  int64_t count = 0;
  for (int64_t label : batch.labels)
    count += label != ignoreIndex;
  double loss = 0;
  for (int64_t row = 0; row < batch.batch; ++row)
    for (int64_t s = 0; s < batch.seq; ++s) {
      int64_t label = batch.labels[row * batch.seq + s];
      if (label == ignoreIndex)
        continue;
      auto token = [&](int64_t d) { return batch.inputIds[row * batch.seq + s - d]; };
      std::vector<double> h(H, 0.0), logits(V, 0.0), dh(H, 0.0);
      for (int64_t d = 0; d < K && d <= s; ++d)
        for (int64_t k = 0; k < H; ++k)
          h[k] += G[d * H + k] * E[token(d) * H + k];
      for (int64_t v = 0; v < V; ++v)
        for (int64_t k = 0; k < H; ++k)
          logits[v] += h[k] * E[v * H + k];
      double top = *std::max_element(logits.begin(), logits.end()), sum = 0;
      for (double logit : logits)
        sum += std::exp(logit - top);
      loss += top + std::log(sum) - logits[label];
      for (int64_t v = 0; v < V; ++v) {
        double dLogit =
            (std::exp(logits[v] - top) / sum - (v == label ? 1 : 0)) / count;
        for (int64_t k = 0; k < H; ++k) {
          dE[v * H + k] += dLogit * h[k];
          dh[k] += dLogit * E[v * H + k];
        }
      }
      for (int64_t d = 0; d < K && d <= s; ++d)
        for (int64_t k = 0; k < H; ++k) {
          dG[d * H + k] += dh[k] * E[token(d) * H + k];
          dE[token(d) * H + k] += dh[k] * G[d * H + k];
        }
    }
  return loss / count;
}

} // namespace

TEST_F(TrainerTest, LearnsTheCopyTask) {
  rotor_artifact *artifact = load(makeTrainArtifact(root, "art"));
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, copyConfig());
  ASSERT_TRUE(trainer);
  EXPECT_EQ(trainer->vocabSize(), trainVocab);
  std::vector<double> losses = train(*trainer, 60);
  ASSERT_EQ(losses.size(), 60u);
  // About log(7) at first (7 symbols), near zero at the end.
  EXPECT_GT(losses[0], 1.5);
  double last = 0;
  for (size_t i = 55; i < 60; ++i)
    last += losses[i] / 5;
  EXPECT_LT(last, 0.01);
  EXPECT_EQ(trainer->history().size(), 60u);
  EXPECT_EQ(trainer->optimizer().steps(), 60);

  // The sort task is out of reach of this model, but the loss still falls
  // (it learns the token statistics).
  TrainConfig sort = copyConfig(40);
  ASSERT_EQ(sort.set("task", "sort"), ROTOR_OK);
  std::unique_ptr<Trainer> sorter = makeTrainer(artifact, sort);
  std::vector<double> sortLosses = train(*sorter, 40);
  EXPECT_LT(sortLosses.back(), sortLosses.front() - 0.3);
}

TEST_F(TrainerTest, MatchesAnF64ReferenceOfTheLoop) {
  std::string dir = makeTrainArtifact(root, "art");
  rotor_artifact *artifact = load(dir);
  for (const char *optimizer : {"adamw", "sgd"}) {
    SCOPED_TRACE(optimizer);
    TrainConfig config = copyConfig(30);
    ASSERT_EQ(config.set("optimizer", optimizer), ROTOR_OK);
    bool adamw = std::string(optimizer) == "adamw";
    if (!adamw) {
      ASSERT_EQ(config.set("lr", "0.5"), ROTOR_OK);
      ASSERT_EQ(config.set("momentum", "0.9"), ROTOR_OK);
      ASSERT_EQ(config.set("weight-decay", "0.001"), ROTOR_OK);
    }
    // Small enough that clipping happens in some steps and not in others.
    ASSERT_EQ(config.set("clip", "0.5"), ROTOR_OK);
    std::unique_ptr<Trainer> trainer = makeTrainer(artifact, config);
    ASSERT_TRUE(trainer);

    // The reference starts from the same weights file.
    std::unique_ptr<io::SafetensorsFile> weights;
    ASSERT_EQ(io::SafetensorsFile::open(dir + "/weights.safetensors", weights),
              ROTOR_OK);
    std::vector<std::vector<double>> p;
    for (const char *name : {"model.embed_tokens.weight", "model.mix.weight"}) {
      TensorPtr tensor;
      ASSERT_EQ(weights->load(name, tensor), ROTOR_OK);
      p.push_back(tensorValues(tensor.get()));
    }
    ReferenceAdamW refAdamW{0, 0.9, 0.999, 1e-8, 0.01, p, {}, {}};
    refAdamW.m = refAdamW.v = {std::vector<double>(p[0].size(), 0.0),
                               std::vector<double>(p[1].size(), 0.0)};
    ReferenceSGD refSGD{0.5, 0.9, 0, 0.001, false, p, p};
    SyntheticTask task(TaskKind::Copy, trainVocab, 3);
    int clipped = 0;
    for (int t = 0; t < 30; ++t) {
      std::vector<std::vector<double>> &values = adamw ? refAdamW.p : refSGD.p;
      std::vector<std::vector<double>> g(2);
      double loss = referenceLoss(task.make(t, 16, 9), values[0], values[1],
                                  g[0], g[1]);
      double norm = 0;
      for (const std::vector<double> &grad : g)
        for (double x : grad)
          norm += x * x;
      norm = std::sqrt(norm);
      double coefficient = std::min(1.0, 0.5 / (norm + 1e-6));
      clipped += coefficient < 1;
      for (std::vector<double> &grad : g)
        for (double &x : grad)
          x *= coefficient;
      double peak = adamw ? 0.05 : 0.5;
      double lr = t < 10 ? peak * (t + 1) / 10
                         : 0.001 + (peak - 0.001) * 0.5 *
                                       (1 + std::cos(M_PI * (t - 10) / 20.0));
      if (adamw) {
        refAdamW.lr = lr;
        refAdamW.step(g, {true, true});
      } else {
        refSGD.lr = lr;
        refSGD.step(g);
      }
      StepMetrics metrics;
      ASSERT_EQ(trainer->step(metrics), ROTOR_OK) << rotor_last_error();
      EXPECT_NEAR(metrics.loss, loss, 2e-4 * loss + 1e-6) << "step " << t + 1;
      EXPECT_NEAR(metrics.gradNorm, norm, 1e-4 * norm) << "step " << t + 1;
      EXPECT_NEAR(metrics.lr, lr, 1e-12 * lr);
    }
    EXPECT_GT(clipped, 0);
    EXPECT_LT(clipped, 30);
  }
}

TEST_F(TrainerTest, ResumesBitIdentically) {
  struct Case {
    const char *what;
    TrainVariant variant;
    std::vector<std::pair<std::string, std::string>> options;
  };
  std::vector<Case> cases = {
      {"adamw", TrainVariant::Plain, {}},
      {"sgd nesterov, dynamic loss scaling",
       TrainVariant::Scaled,
       {{"optimizer", "sgd"},
        {"lr", "0.3"},
        {"momentum", "0.9"},
        {"nesterov", "true"},
        {"loss-scale", "dynamic"},
        {"loss-scale-init", "131072"},
        {"loss-scale-growth-interval", "7"}}},
      {"rope base in log space", TrainVariant::Rope, {{"clip", "0"}}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    rotor_artifact *artifact =
        load(makeTrainArtifact(root, c.what, c.variant));
    TrainConfig config = copyConfig(40);
    for (const auto &[name, value] : c.options)
      ASSERT_EQ(config.set(name, value), ROTOR_OK) << rotor_last_error();

    std::unique_ptr<Trainer> whole = makeTrainer(artifact, config);
    ASSERT_TRUE(whole);
    std::vector<double> expected = train(*whole, 40);

    std::unique_ptr<Trainer> first = makeTrainer(artifact, config);
    train(*first, 20);
    std::string checkpoint = root.file("half.safetensors");
    ASSERT_EQ(first->save(checkpoint), ROTOR_OK) << rotor_last_error();
    first.reset();

    std::unique_ptr<Trainer> second = makeTrainer(artifact, config);
    ASSERT_EQ(second->resume(checkpoint), ROTOR_OK) << rotor_last_error();
    EXPECT_EQ(second->iteration(), 20);
    ASSERT_EQ(second->history().size(), 20u);
    std::vector<double> resumed = train(*second, 40);
    ASSERT_EQ(resumed.size(), 20u);
    for (size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(resumed[i], expected[20 + i]) << "step " << 21 + i;
      EXPECT_EQ(second->history()[i].loss, expected[i]);
    }
    EXPECT_EQ(parameterBits(*second), parameterBits(*whole));
    EXPECT_EQ(second->lossScale(), whole->lossScale());
    EXPECT_EQ(second->optimizer().steps(), whole->optimizer().steps());
  }
}

TEST_F(TrainerTest, LossScalingSkipsOverflowingSteps) {
  rotor_artifact *artifact =
      load(makeTrainArtifact(root, "art", TrainVariant::Scaled));
  TrainConfig config = copyConfig(60);
  ASSERT_EQ(config.set("loss-scale", "dynamic"), ROTOR_OK);
  ASSERT_EQ(config.set("loss-scale-growth-interval", "20"), ROTOR_OK);
  ASSERT_EQ(config.set("loss-scale-init", "16777216"), ROTOR_OK);
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, config);
  ASSERT_TRUE(trainer);
  std::vector<uint32_t> initial = parameterBits(*trainer);
  // Gradients of 0.01 to 1 times 2^24 overflow f16: the first steps are
  // skipped, halving the scale each time, with the parameters unchanged.
  StepMetrics metrics;
  ASSERT_EQ(trainer->step(metrics), ROTOR_OK) << rotor_last_error();
  EXPECT_TRUE(metrics.skipped);
  EXPECT_EQ(metrics.lossScale, 16777216.0);
  EXPECT_TRUE(std::isnan(metrics.gradNorm));
  EXPECT_EQ(trainer->lossScale(), 8388608.0);
  EXPECT_EQ(parameterBits(*trainer), initial);
  EXPECT_EQ(trainer->optimizer().steps(), 0);
  std::vector<double> losses = train(*trainer, 60);
  int64_t skipped = 0;
  for (const StepMetrics &m : trainer->history())
    skipped += m.skipped;
  EXPECT_GE(skipped, 2);
  EXPECT_LT(skipped, 20);
  EXPECT_EQ(trainer->optimizer().steps(), 60 - skipped);
  EXPECT_LT(losses.back(), 0.05);
  // After 20 finite steps in a row the scale grew back at least once.
  double lowest = 16777216;
  for (const StepMetrics &m : trainer->history())
    lowest = std::min(lowest, m.lossScale);
  EXPECT_GT(trainer->lossScale(), lowest);

  // Without loss scaling, non-finite gradients stop training with an error.
  TrainConfig plain = copyConfig(5);
  ASSERT_EQ(plain.set("lr", "1e30"), ROTOR_OK);
  ASSERT_EQ(plain.set("warmup", "0"), ROTOR_OK);
  ASSERT_EQ(plain.set("clip", "0"), ROTOR_OK);
  ASSERT_EQ(plain.set("optimizer", "sgd"), ROTOR_OK);
  std::unique_ptr<Trainer> diverging = makeTrainer(artifact, plain);
  rotor_status status = ROTOR_OK;
  while (status == ROTOR_OK && diverging->iteration() < 5)
    status = diverging->step(metrics);
  EXPECT_EQ(status, ROTOR_ERR_BACKEND);
  EXPECT_THAT(rotor_last_error(), HasSubstr("not finite"));
}

TEST_F(TrainerTest, LearnsTheRopeBaseInLogSpace) {
  rotor_artifact *artifact =
      load(makeTrainArtifact(root, "art", TrainVariant::Rope));
  TrainConfig config = copyConfig(300);
  ASSERT_EQ(config.set("clip", "0"), ROTOR_OK);
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, config);
  ASSERT_TRUE(trainer);
  const Parameter &base = trainer->parameters()[1];
  EXPECT_TRUE(base.logSpace);
  EXPECT_FALSE(base.decay);
  EXPECT_NEAR(base.value[0], std::log(10000.0), 1e-5);
  std::vector<double> losses = train(*trainer, 300);
  // The loss is (log(base) - log(20000))^2: the base reaches 20000.
  EXPECT_NEAR(std::exp(base.value[0]), 20000.0, 200.0);
  EXPECT_LT(losses.back(), 1e-4);
  // Checkpoints and exports hold the base itself under its name.
  ASSERT_EQ(trainer->exportWeights(root.file("model.safetensors")), ROTOR_OK);
  std::unique_ptr<io::SafetensorsFile> exported;
  ASSERT_EQ(io::SafetensorsFile::open(root.file("model.safetensors"), exported),
            ROTOR_OK);
  TensorPtr value;
  ASSERT_EQ(exported->load("model.layers.0.self_attn.rope.base", value),
            ROTOR_OK);
  EXPECT_NEAR(tensorValues(value.get())[0], 20000.0, 200.0);
}

TEST_F(TrainerTest, ExportsTransformersWeights) {
  rotor_artifact *artifact = load(makeTrainArtifact(root, "art"));
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, copyConfig(20));
  train(*trainer, 3);
  std::string path = root.file("model.safetensors");
  ASSERT_EQ(trainer->exportWeights(path), ROTOR_OK) << rotor_last_error();
  std::unique_ptr<io::SafetensorsFile> file;
  ASSERT_EQ(io::SafetensorsFile::open(path, file), ROTOR_OK);
  // Only the parameters, under their names, f32, and format=pt (which
  // transformers requires of .safetensors checkpoints).
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->metadata(),
            (std::vector<std::pair<std::string, std::string>>{{"format", "pt"}}));
  for (const Parameter &param : trainer->parameters()) {
    const io::SafetensorsTensorInfo *info = file->find(param.name);
    ASSERT_TRUE(info) << param.name;
    EXPECT_EQ(info->dtypeName, "F32");
    EXPECT_EQ(info->shape, param.shape);
    TensorPtr tensor;
    ASSERT_EQ(file->load(param.name, tensor), ROTOR_OK);
    EXPECT_EQ(std::memcmp(rotor_tensor_data(tensor.get()), param.value.data(),
                          param.value.size() * 4),
              0);
  }
  // Tied embeddings: there is no lm_head.weight to write.
  EXPECT_EQ(file->find("lm_head.weight"), nullptr);
}

TEST_F(TrainerTest, CheckpointHoldsTheStateUnderHuggingFaceNames) {
  rotor_artifact *artifact = load(makeTrainArtifact(root, "art"));
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, copyConfig(20));
  train(*trainer, 5);
  std::string path = root.file("ckpt.safetensors");
  ASSERT_EQ(trainer->save(path), ROTOR_OK) << rotor_last_error();
  std::unique_ptr<io::SafetensorsFile> file;
  ASSERT_EQ(io::SafetensorsFile::open(path, file), ROTOR_OK);
  std::vector<std::string> names;
  for (const io::SafetensorsTensorInfo &info : file->tensors())
    names.push_back(info.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "model.embed_tokens.weight",
                       "model.embed_tokens.weight.exp_avg",
                       "model.embed_tokens.weight.exp_avg_sq",
                       "model.mix.weight", "model.mix.weight.exp_avg",
                       "model.mix.weight.exp_avg_sq", "rotor.train.history"}));
  std::map<std::string, std::string> metadata(file->metadata().begin(),
                                              file->metadata().end());
  EXPECT_EQ(metadata["rotor.train.step"], "5");
  EXPECT_EQ(metadata["rotor.train.optimizer_steps"], "5");
  EXPECT_EQ(metadata["rotor.train.task"], "copy");
  EXPECT_EQ(metadata["rotor.train.lr"], "0.05");
  TrainConfig stored;
  ASSERT_EQ(Trainer::readCheckpointConfig(path, stored), ROTOR_OK);
  EXPECT_EQ(stored.toOptions(), copyConfig(20).toOptions());
}

TEST_F(TrainerTest, CheckpointWritesAreAtomic) {
  rotor_artifact *artifact = load(makeTrainArtifact(root, "art"));
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, copyConfig(20));
  train(*trainer, 2);
  std::string good = root.file("ckpt.safetensors");
  ASSERT_EQ(trainer->save(good), ROTOR_OK);
  std::string before = readFileBytes(good);
  train(*trainer, 4);
  // A failing save (the destination is a directory, or its directory does
  // not exist) reports the path and leaves nothing behind.
  std::string blocked = root.file("blocked");
  ASSERT_EQ(::mkdir(blocked.c_str(), 0777), 0);
  EXPECT_EQ(trainer->save(blocked), ROTOR_ERR_IO);
  EXPECT_THAT(rotor_last_error(), HasSubstr("blocked"));
  EXPECT_NE(trainer->save(root.file("missing/ckpt.safetensors")), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("missing"));
  EXPECT_FALSE(exists(root.file("missing")));
  EXPECT_EQ(readFileBytes(good), before);
  DIR *dir = opendir(root.path().c_str());
  while (dirent *entry = readdir(dir))
    EXPECT_EQ(std::string(entry->d_name).find(".tmp"), std::string::npos)
        << entry->d_name;
  closedir(dir);
}

TEST_F(TrainerTest, RejectsMismatchedCheckpoints) {
  rotor_artifact *artifact = load(makeTrainArtifact(root, "art"));
  std::unique_ptr<Trainer> trainer = makeTrainer(artifact, copyConfig(20));
  train(*trainer, 3);
  std::string path = root.file("ckpt.safetensors");
  ASSERT_EQ(trainer->save(path), ROTOR_OK);

  // Another configuration.
  TrainConfig other = copyConfig(20);
  ASSERT_EQ(other.set("lr", "0.01"), ROTOR_OK);
  std::unique_ptr<Trainer> different = makeTrainer(artifact, other);
  std::vector<uint32_t> initial = parameterBits(*different);
  EXPECT_EQ(different->resume(path), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("written with lr=0.05 but this run has lr=0.01"));
  EXPECT_EQ(different->iteration(), 0);

  // A truncated file, a file without the training metadata, a tensor of
  // the wrong shape: errors, and the trainer is unchanged.
  std::string bytes = readFileBytes(path);
  writeFile(root.file("cut.safetensors"), bytes.substr(0, bytes.size() / 2));
  std::unique_ptr<Trainer> fresh = makeTrainer(artifact, copyConfig(20));
  EXPECT_EQ(fresh->resume(root.file("cut.safetensors")), ROTOR_ERR_FORMAT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("cut.safetensors"));
  ASSERT_EQ(trainer->exportWeights(root.file("plain.safetensors")), ROTOR_OK);
  EXPECT_EQ(fresh->resume(root.file("plain.safetensors")), ROTOR_ERR_FORMAT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("not a rotor training checkpoint"));

  std::unique_ptr<io::SafetensorsFile> file;
  ASSERT_EQ(io::SafetensorsFile::open(path, file), ROTOR_OK);
  std::vector<TensorPtr> keep;
  std::vector<io::NamedTensor> tensors;
  for (const io::SafetensorsTensorInfo &info : file->tensors()) {
    TensorPtr tensor;
    ASSERT_EQ(file->load(info.name, tensor), ROTOR_OK);
    if (info.name == "model.mix.weight.exp_avg")
      tensor = makeTensor(ROTOR_F32, {2, 2}, {0, 0, 0, 0});
    tensors.push_back({info.name, tensor.get()});
    keep.push_back(std::move(tensor));
  }
  ASSERT_EQ(io::writeSafetensors(root.file("bad.safetensors"), tensors,
                                 file->metadata()),
            ROTOR_OK);
  EXPECT_EQ(fresh->resume(root.file("bad.safetensors")), ROTOR_ERR_FORMAT);
  EXPECT_THAT(rotor_last_error(),
              HasSubstr("tensor 'model.mix.weight.exp_avg' is F32 [2, 2] but "
                        "the run has F32 [8, 16]"));
  EXPECT_EQ(fresh->iteration(), 0);
  EXPECT_EQ(parameterBits(*fresh), initial);
}

TEST_F(TrainerTest, RejectsArtifactsThatBreakTheContract) {
  auto createError = [&](const std::string &dir, const TrainConfig &config) {
    rotor_artifact *artifact = load(dir);
    std::unique_ptr<Trainer> trainer;
    EXPECT_NE(Trainer::create(artifact, config, trainer), ROTOR_OK);
    EXPECT_FALSE(trainer);
    return std::string(rotor_last_error());
  };
  TrainConfig config = copyConfig(20);
  EXPECT_THAT(createError(makeArtifact(root, "notrain", standardManifest()),
                          config),
              HasSubstr("rotorc --train"));

  std::string manifest = trainManifest(TrainVariant::Plain);
  auto variant = [&](const std::string &name, const std::string &from,
                     const std::string &to) {
    std::string text = manifest;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    std::string dir = makeArtifact(root, name, text, trainLibrary());
    // The initial weights of the plain variant.
    std::string source = makeTrainArtifact(root, name + ".src");
    writeFile(dir + "/weights.safetensors",
              readFileBytes(source + "/weights.safetensors"));
    return dir;
  };
  EXPECT_THAT(createError(variant("nograd", R"(, {"name": "grad.model.mix.weight")",
                                  R"(, {"name": "other")"),
                          config),
              HasSubstr("no output 'grad.model.mix.weight' for parameter "
                        "'model.mix.weight'"));
  EXPECT_THAT(createError(variant("badgrad", R"("grad.model.mix.weight", "dtype": "f32", "shape": [8, 16])",
                                  R"("grad.model.mix.weight", "dtype": "f32", "shape": [16, 8])"),
                          config),
              HasSubstr("is f32 [16, 8] but parameter 'model.mix.weight' is "
                        "f32 [8, 16]"));
  EXPECT_THAT(createError(variant("batch", R"("labels", "dtype": "i64", "shape": [null, null])",
                                  R"("labels", "dtype": "i64", "shape": [4, null])"),
                          config),
              HasSubstr("('labels') has batch size 4 but the run uses "
                        "batch=16"));
  EXPECT_THAT(createError(variant("noloss", R"("name": "loss")",
                                  R"("name": "cost")"),
                          config),
              HasSubstr("has no output 'loss'"));
  TrainConfig scaled = config;
  ASSERT_EQ(scaled.set("loss-scale", "dynamic"), ROTOR_OK);
  EXPECT_THAT(createError(makeTrainArtifact(root, "unscaled"), scaled),
              HasSubstr("needs an input 'loss_scale'"));
  // A parameter without an initial value.
  std::string noWeights = makeTrainArtifact(root, "noweights");
  std::unique_ptr<io::SafetensorsFile> file;
  TensorPtr embedding = makeTensor(ROTOR_F32, {8, 16}, std::vector<double>(128, 0.1));
  ASSERT_EQ(io::writeSafetensors(noWeights + "/weights.safetensors",
                                 {{"model.embed_tokens.weight", embedding.get()}}),
            ROTOR_OK);
  EXPECT_THAT(createError(noWeights, config),
              HasSubstr("no tensor 'model.mix.weight' (compile with --weights)"));
}
