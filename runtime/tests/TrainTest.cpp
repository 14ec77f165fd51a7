//===- TrainTest.cpp - Optimizers, schedule, clipping, scaling, data ------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The optimizers are checked against hand-computed updates and against an
// independent f64 implementation of torch.optim's documented algorithms
// (the bias-corrected form m_hat / (sqrt(v_hat) + eps), not the rearranged
// one the optimizer uses), over many steps with varying gradients.
//
//===----------------------------------------------------------------------===//

#include "TrainReference.h"
#include "rotor/train.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace rotor::train;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

Parameter makeParam(const std::string &name, std::vector<int64_t> shape,
                    std::vector<float> value) {
  Parameter param;
  param.name = name;
  param.shape = std::move(shape);
  param.value = std::move(value);
  param.grad.assign(param.value.size(), 0.0f);
  param.decay = param.shape.size() >= 2;
  return param;
}

/// Three parameters of ranks 2, 1 and 0 with awkward values.
std::vector<Parameter> threeParams() {
  return {makeParam("w", {2, 3}, {0.5f, -1.25f, 2.0f, 0.0f, 3.5f, -0.75f}),
          makeParam("b", {3}, {0.1f, -0.2f, 0.3f}),
          makeParam("s", {}, {1.5f})};
}

/// A deterministic gradient for element k of parameter p at step t, with
/// changing signs and magnitudes (including zero).
float gradientAt(size_t p, size_t k, int t) {
  if ((p + k + t) % 7 == 3)
    return 0.0f;
  return static_cast<float>(std::sin(1.7 * t + 0.9 * k + 2.3 * p) *
                            std::pow(2.0, static_cast<double>(k % 4) - 2));
}

std::vector<std::vector<double>> valuesOf(const std::vector<Parameter> &ps) {
  std::vector<std::vector<double>> out;
  for (const Parameter &p : ps)
    out.emplace_back(p.value.begin(), p.value.end());
  return out;
}

/// Sets the gradients of step t; returns them in f64.
std::vector<std::vector<double>> setGradients(std::vector<Parameter> &ps,
                                              int t) {
  std::vector<std::vector<double>> out;
  for (size_t i = 0; i < ps.size(); ++i) {
    out.emplace_back();
    for (size_t k = 0; k < ps[i].grad.size(); ++k) {
      ps[i].grad[k] = gradientAt(i, k, t);
      out.back().push_back(ps[i].grad[k]);
    }
  }
  return out;
}

} // namespace

TEST(OptimizerTest, AdamWFirstStepByHand) {
  // p = 1, g = 0.5, lr = 0.1, wd = 0.01: p = 1 - 0.1*0.01 - 0.1 * m_hat /
  // (sqrt(v_hat) + eps) with m_hat = 0.5, sqrt(v_hat) = 0.5.
  std::vector<Parameter> params = {makeParam("w", {1, 1}, {1.0f}),
                                   makeParam("b", {1}, {1.0f})};
  params[0].grad = {0.5f};
  params[1].grad = {0.5f};
  std::unique_ptr<Optimizer> adamw = Optimizer::create({});
  adamw->init(params);
  adamw->step(params, 0.1);
  EXPECT_FLOAT_EQ(params[0].value[0], 0.899f);
  // Rank-1 parameters are exempt from weight decay by default.
  EXPECT_FLOAT_EQ(params[1].value[0], 0.9f);
  EXPECT_FLOAT_EQ(adamw->state(0, 0)[0], 0.05f);
  EXPECT_FLOAT_EQ(adamw->state(1, 0)[0], 0.00025f);
  EXPECT_EQ(adamw->steps(), 1);
  EXPECT_EQ(adamw->stateNames(),
            (std::vector<std::string>{"exp_avg", "exp_avg_sq"}));
}

TEST(OptimizerTest, AdamWMatchesReferenceOverManySteps) {
  for (bool decayAll : {false, true}) {
    OptimizerOptions options;
    options.beta1 = 0.8;
    options.beta2 = 0.95;
    options.eps = 1e-6;
    options.weightDecay = 0.1;
    options.decayAll = decayAll;
    std::vector<Parameter> params = threeParams();
    std::unique_ptr<Optimizer> adamw = Optimizer::create(options);
    adamw->init(params);
    ReferenceAdamW ref{0, 0.8, 0.95, 1e-6, 0.1, valuesOf(params), {}, {}};
    for (const Parameter &p : params) {
      ref.m.emplace_back(p.value.size(), 0.0);
      ref.v.emplace_back(p.value.size(), 0.0);
    }
    std::vector<bool> decay = {true, decayAll, decayAll};
    for (int t = 1; t <= 40; ++t) {
      double lr = 0.01 * (1 + 0.5 * std::cos(t));
      ref.lr = lr;
      ref.step(setGradients(params, t), decay);
      adamw->step(params, lr);
    }
    for (size_t i = 0; i < params.size(); ++i)
      for (size_t k = 0; k < params[i].value.size(); ++k)
        EXPECT_NEAR(params[i].value[k], ref.p[i][k], 2e-6)
            << params[i].name << "[" << k << "] decayAll=" << decayAll;
    // The parameters moved far more than the tolerance.
    EXPECT_GT(std::fabs(params[0].value[0] - 0.5f), 0.05f);
  }
}

TEST(OptimizerTest, SGDMomentumByHand) {
  OptimizerOptions options;
  options.kind = OptimizerKind::SGD;
  options.weightDecay = 0;
  options.momentum = 0.9;
  options.dampening = 0.5;
  std::vector<Parameter> params = {makeParam("w", {1, 1}, {1.0f})};
  std::unique_ptr<Optimizer> sgd = Optimizer::create(options);
  sgd->init(params);
  params[0].grad = {1.0f};
  // The first step puts the gradient itself in the buffer (no dampening).
  sgd->step(params, 0.1);
  EXPECT_FLOAT_EQ(params[0].value[0], 0.9f);
  sgd->step(params, 0.1);
  EXPECT_FLOAT_EQ(sgd->state(0, 0)[0], 1.4f);
  EXPECT_FLOAT_EQ(params[0].value[0], 0.76f);

  options.dampening = 0;
  options.nesterov = true;
  params = {makeParam("w", {1, 1}, {1.0f})};
  sgd = Optimizer::create(options);
  sgd->init(params);
  params[0].grad = {1.0f};
  sgd->step(params, 0.1);
  EXPECT_FLOAT_EQ(params[0].value[0], 0.81f);
  sgd->step(params, 0.1);
  EXPECT_FLOAT_EQ(params[0].value[0], 0.539f);

  // Plain SGD keeps no state.
  options = OptimizerOptions();
  options.kind = OptimizerKind::SGD;
  EXPECT_TRUE(Optimizer::create(options)->stateNames().empty());
}

TEST(OptimizerTest, SGDMatchesReferenceOverManySteps) {
  struct Case {
    double momentum, dampening, wd;
    bool nesterov;
  };
  for (Case c : {Case{0.9, 0.1, 0.01, false}, Case{0.95, 0, 0.001, true},
                 Case{0, 0, 0.05, false}}) {
    OptimizerOptions options;
    options.kind = OptimizerKind::SGD;
    options.momentum = c.momentum;
    options.dampening = c.dampening;
    options.weightDecay = c.wd;
    options.nesterov = c.nesterov;
    options.decayAll = true;
    std::vector<Parameter> params = threeParams();
    std::unique_ptr<Optimizer> sgd = Optimizer::create(options);
    sgd->init(params);
    ReferenceSGD ref{0.05, c.momentum, c.dampening, c.wd, c.nesterov,
                     valuesOf(params), valuesOf(params)};
    for (int t = 1; t <= 40; ++t) {
      ref.step(setGradients(params, t));
      sgd->step(params, 0.05);
    }
    for (size_t i = 0; i < params.size(); ++i)
      for (size_t k = 0; k < params[i].value.size(); ++k)
        EXPECT_NEAR(params[i].value[k], ref.p[i][k], 2e-5)
            << params[i].name << "[" << k << "] momentum " << c.momentum;
  }
}

TEST(OptimizerTest, ValidatesLikeTorch) {
  OptimizerOptions options;
  options.beta1 = 1.0;
  EXPECT_EQ(validate(options), ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("beta1: 1 must be in [0, 1)"));
  options = OptimizerOptions();
  options.eps = -1;
  EXPECT_NE(validate(options), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("eps"));
  options = OptimizerOptions();
  options.kind = OptimizerKind::SGD;
  options.nesterov = true;
  EXPECT_NE(validate(options), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("Nesterov momentum needs"));
  options.momentum = 0.9;
  options.dampening = 0.1;
  EXPECT_NE(validate(options), ROTOR_OK);
  options.dampening = 0;
  EXPECT_EQ(validate(options), ROTOR_OK);
  options.weightDecay = -0.1;
  EXPECT_NE(validate(options), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("weight-decay"));
}

TEST(GradientTest, ClipsTheGlobalNorm) {
  std::vector<Parameter> params = {makeParam("a", {2}, {0, 0}),
                                   makeParam("b", {1, 1}, {0})};
  params[0].grad = {3.0f, 4.0f};
  params[1].grad = {12.0f};
  EXPECT_DOUBLE_EQ(gradNorm(params), 13.0);
  // Below the threshold: unchanged, and the norm is returned.
  EXPECT_DOUBLE_EQ(clipGradNorm(params, 100), 13.0);
  EXPECT_EQ(params[0].grad, (std::vector<float>{3.0f, 4.0f}));
  // Clipping disabled.
  EXPECT_DOUBLE_EQ(clipGradNorm(params, 0), 13.0);
  EXPECT_EQ(params[1].grad[0], 12.0f);
  // Above: scaled by max / (norm + 1e-6), computed in f32 like torch.
  EXPECT_DOUBLE_EQ(clipGradNorm(params, 6.5), 13.0);
  float coefficient = 6.5f / (13.0f + 1e-6f);
  EXPECT_EQ(params[0].grad[0], 3.0f * coefficient);
  EXPECT_EQ(params[1].grad[0], 12.0f * coefficient);
  EXPECT_NEAR(gradNorm(params), 6.5, 1e-5);
}

TEST(GradientTest, ScheduleWarmsUpThenDecays) {
  LrSchedule schedule{1e-3, 1e-4, 10, 110, true};
  EXPECT_DOUBLE_EQ(schedule.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(schedule.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(schedule.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(schedule.at(10), 1e-3);
  EXPECT_NEAR(schedule.at(60), 1e-4 + 0.9e-3 * 0.5, 1e-15);
  EXPECT_NEAR(schedule.at(35), 1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(M_PI / 4)),
              1e-15);
  EXPECT_DOUBLE_EQ(schedule.at(110), 1e-4);
  EXPECT_DOUBLE_EQ(schedule.at(500), 1e-4);
  for (int64_t t = 11; t < 110; ++t)
    EXPECT_LT(schedule.at(t), schedule.at(t - 1)) << t;
  LrSchedule constant{2e-3, 0, 0, 50, false};
  EXPECT_DOUBLE_EQ(constant.at(0), 2e-3);
  EXPECT_DOUBLE_EQ(constant.at(49), 2e-3);
  // No warmup: cosine from the first step.
  LrSchedule noWarmup{1.0, 0, 0, 4, true};
  EXPECT_DOUBLE_EQ(noWarmup.at(0), 1.0);
  EXPECT_NEAR(noWarmup.at(2), 0.5, 1e-15);
}

TEST(GradientTest, LossScalerBacksOffAndGrows) {
  LossScaler scaler({8.0, 2.0, 0.5, 3});
  EXPECT_EQ(scaler.scale(), 8.0);
  std::vector<Parameter> params = {makeParam("a", {3}, {0, 0, 0})};
  params[0].grad = {16.0f, -4.0f, 1.0f};
  EXPECT_FALSE(scaler.unscale(params));
  EXPECT_EQ(params[0].grad, (std::vector<float>{2.0f, -0.5f, 0.125f}));
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 8.0);
  EXPECT_EQ(scaler.growthTracker(), 2);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 16.0);
  EXPECT_EQ(scaler.growthTracker(), 0);
  params[0].grad = {1.0f, INFINITY, 2.0f};
  EXPECT_TRUE(scaler.unscale(params));
  params[0].grad = {NAN, 0.0f, 0.0f};
  EXPECT_TRUE(scaler.unscale(params));
  scaler.update(false);
  scaler.update(true);
  EXPECT_EQ(scaler.scale(), 8.0);
  EXPECT_EQ(scaler.growthTracker(), 0);
  // The scale never grows to infinity.
  LossScaler huge({3e38, 2.0, 0.5, 1});
  huge.update(false);
  EXPECT_EQ(huge.scale(), static_cast<double>(3e38f));
}

TEST(SyntheticTaskTest, CopyLayout) {
  SyntheticTask task(TaskKind::Copy, 10, 42);
  Batch batch = task.make(0, 4, 9);
  ASSERT_EQ(batch.inputIds.size(), 36u);
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t *ids = &batch.inputIds[b * 9];
    const int64_t *labels = &batch.labels[b * 9];
    EXPECT_EQ(ids[4], 0);
    for (int s = 0; s < 4; ++s) {
      EXPECT_GE(ids[s], 1);
      EXPECT_LT(ids[s], 10);
      EXPECT_EQ(ids[5 + s], ids[s]);
      EXPECT_EQ(labels[s], ignoreIndex);
      EXPECT_EQ(labels[4 + s], ids[5 + s]);
    }
    EXPECT_EQ(labels[8], ignoreIndex);
  }
}

TEST(SyntheticTaskTest, SortLayoutAndEvenLengths) {
  SyntheticTask task(TaskKind::Sort, 50, 7);
  Batch batch = task.make(3, 3, 12);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t *ids = &batch.inputIds[b * 12];
    // n = 5, the separator at 5, the sorted symbols at 6..10, padding at 11.
    std::vector<int64_t> prompt(ids, ids + 5), answer(ids + 6, ids + 11);
    std::sort(prompt.begin(), prompt.end());
    EXPECT_EQ(prompt, answer);
    EXPECT_EQ(ids[5], 0);
    EXPECT_EQ(ids[11], 0);
    EXPECT_EQ(batch.labels[b * 12 + 10], ignoreIndex);
    EXPECT_EQ(batch.labels[b * 12 + 11], ignoreIndex);
    EXPECT_EQ(batch.labels[b * 12 + 5], ids[6]);
  }
}

TEST(SyntheticTaskTest, BatchesDependOnSeedAndIndexOnly) {
  SyntheticTask task(TaskKind::Copy, 100, 1);
  Batch a = task.make(5, 8, 33), again = task.make(5, 8, 33);
  EXPECT_EQ(a.inputIds, again.inputIds);
  EXPECT_NE(a.inputIds, task.make(6, 8, 33).inputIds);
  EXPECT_NE(a.inputIds, SyntheticTask(TaskKind::Copy, 100, 2)
                            .make(5, 8, 33)
                            .inputIds);
  // Every symbol appears: the generator covers the vocabulary.
  std::vector<int> seen(100, 0);
  for (uint64_t i = 0; i < 20; ++i)
    for (int64_t id : task.make(i, 8, 33).inputIds)
      seen[id] = 1;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 100);
}

TEST(SyntheticTaskTest, RejectsTooSmallProblems) {
  EXPECT_EQ(SyntheticTask(TaskKind::Copy, 2, 0).validate(1, 9),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("at least 3 tokens"));
  EXPECT_NE(SyntheticTask(TaskKind::Sort, 5, 0).validate(1, 2), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("seq: 2 is too short"));
  EXPECT_EQ(SyntheticTask(TaskKind::Sort, 3, 0).validate(1, 3), ROTOR_OK);
}

TEST(TrainConfigTest, OptionsRoundTrip) {
  TrainConfig config;
  ASSERT_EQ(config.set("optimizer", "sgd"), ROTOR_OK);
  EXPECT_EQ(config.optimizer.weightDecay, 0.0);
  ASSERT_EQ(config.set("lr", "0.1"), ROTOR_OK);
  ASSERT_EQ(config.set("momentum", "0.9"), ROTOR_OK);
  ASSERT_EQ(config.set("nesterov", "true"), ROTOR_OK);
  ASSERT_EQ(config.set("task", "sort"), ROTOR_OK);
  ASSERT_EQ(config.set("seed", "18446744073709551615"), ROTOR_OK);
  ASSERT_EQ(config.set("loss-scale", "dynamic"), ROTOR_OK);
  ASSERT_EQ(config.validate(), ROTOR_OK);
  std::vector<std::pair<std::string, std::string>> options = config.toOptions();
  ASSERT_EQ(options.size(), trainOptionNames().size());
  TrainConfig copy;
  for (size_t i = 0; i < options.size(); ++i) {
    EXPECT_EQ(options[i].first, trainOptionNames()[i]);
    ASSERT_EQ(copy.set(options[i].first, options[i].second), ROTOR_OK)
        << options[i].first;
  }
  EXPECT_EQ(copy.toOptions(), options);
  EXPECT_EQ(copy.seed, UINT64_MAX);
  EXPECT_EQ(copy.schedule.maxLr, 0.1);

  // An explicit weight decay survives a change of optimizer.
  TrainConfig decayed;
  ASSERT_EQ(decayed.set("weight-decay", "0.5"), ROTOR_OK);
  ASSERT_EQ(decayed.set("optimizer", "sgd"), ROTOR_OK);
  EXPECT_EQ(decayed.optimizer.weightDecay, 0.5);
}

TEST(TrainConfigTest, RejectsBadValues) {
  TrainConfig config;
  EXPECT_NE(config.set("lr", "fast"), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("lr: 'fast' is not a finite number"));
  EXPECT_NE(config.set("lr", "-1"), ROTOR_OK);
  EXPECT_NE(config.set("lr", "inf"), ROTOR_OK);
  EXPECT_NE(config.set("task", "reverse"), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("copy or sort"));
  EXPECT_NE(config.set("steps", "0"), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("steps: 0 must be at least 1"));
  EXPECT_NE(config.set("batch", "2x"), ROTOR_OK);
  EXPECT_NE(config.set("nesterov", "yes"), ROTOR_OK);
  EXPECT_NE(config.set("loss-scale-init", "0"), ROTOR_OK);
  EXPECT_NE(config.set("colour", "blue"), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("unknown training option"));
  ASSERT_EQ(config.set("steps", "10"), ROTOR_OK);
  ASSERT_EQ(config.set("warmup", "11"), ROTOR_OK);
  EXPECT_NE(config.validate(), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("warmup: 11 warmup steps exceed"));
  ASSERT_EQ(config.set("warmup", "10"), ROTOR_OK);
  ASSERT_EQ(config.set("min-lr", "0.5"), ROTOR_OK);
  EXPECT_NE(config.validate(), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("min-lr"));
}
