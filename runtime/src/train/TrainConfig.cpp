//===- TrainConfig.cpp - The options of a training run --------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// One table of options, shared by `rotor-run train` (parsing), checkpoints
// (the values in __metadata__) and resuming (comparing them). Values are
// kept in canonical text form (integers in decimal, reals with 17
// significant digits, booleans as true/false), so that two configurations
// are equal exactly when their texts are.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include "Error.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace rotor;
using namespace rotor::train;

std::string rotor::train::formatExactReal(double value) {
  char text[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  return text;
}

const std::vector<std::string> &rotor::train::trainOptionNames() {
  static const std::vector<std::string> names = {
      "task",          "batch",
      "seq",           "seed",
      "steps",         "optimizer",
      "lr",            "min-lr",
      "warmup",        "schedule",
      "weight-decay",  "beta1",
      "beta2",         "eps",
      "momentum",      "dampening",
      "nesterov",      "decay-all",
      "clip",          "loss-scale",
      "loss-scale-init", "loss-scale-growth-interval"};
  return names;
}

namespace {

std::string formatBool(bool value) { return value ? "true" : "false"; }

rotor_status badValue(const std::string &name, const std::string &value,
                      const char *rule) {
  return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": ", quote(value), " ", rule);
}

// The parsers leave `out` alone on failure.
rotor_status parseInteger(const std::string &name, const std::string &value,
                          int64_t minimum, int64_t &out) {
  int64_t parsed = 0;
  const char *first = value.data(), *last = first + value.size();
  auto [ptr, ec] = std::from_chars(first, last, parsed);
  if (first == last || ec != std::errc() || ptr != last)
    return badValue(name, value, "is not an integer");
  if (parsed < minimum)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": ", parsed,
                " must be at least ", minimum);
  out = parsed;
  return ROTOR_OK;
}

rotor_status parseReal(const std::string &name, const std::string &value,
                       double minimum, double &out) {
  char *end = nullptr;
  double parsed = value.empty() ? 0 : std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() ||
      !std::isfinite(parsed))
    return badValue(name, value, "is not a finite number");
  if (parsed < minimum)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": ", value,
                " must be at least ", minimum);
  out = parsed;
  return ROTOR_OK;
}

rotor_status parseBool(const std::string &name, const std::string &value,
                       bool &out) {
  if (value == "true" || value == "1")
    out = true;
  else if (value == "false" || value == "0")
    out = false;
  else
    return badValue(name, value, "is not a boolean (true or false)");
  return ROTOR_OK;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
TrainConfig::toOptions() const {
  const OptimizerOptions &o = optimizer;
  return {
      {"task", taskName(task)},
      {"batch", std::to_string(batch)},
      {"seq", std::to_string(seq)},
      {"seed", std::to_string(seed)},
      {"steps", std::to_string(steps)},
      {"optimizer", optimizerName(o.kind)},
      {"lr", formatExactReal(schedule.maxLr)},
      {"min-lr", formatExactReal(schedule.minLr)},
      {"warmup", std::to_string(schedule.warmupSteps)},
      {"schedule", schedule.cosine ? "cosine" : "constant"},
      {"weight-decay", formatExactReal(o.weightDecay)},
      {"beta1", formatExactReal(o.beta1)},
      {"beta2", formatExactReal(o.beta2)},
      {"eps", formatExactReal(o.eps)},
      {"momentum", formatExactReal(o.momentum)},
      {"dampening", formatExactReal(o.dampening)},
      {"nesterov", formatBool(o.nesterov)},
      {"decay-all", formatBool(o.decayAll)},
      {"clip", formatExactReal(clip)},
      {"loss-scale", lossScaling ? "dynamic" : "none"},
      {"loss-scale-init", formatExactReal(scaler.initScale)},
      {"loss-scale-growth-interval", std::to_string(scaler.growthInterval)},
  };
}

rotor_status TrainConfig::set(const std::string &name,
                              const std::string &value) {
  OptimizerOptions &o = optimizer;
  int64_t integer = 0;
  rotor_status status = ROTOR_OK;
  if (name == "task") {
    if (value == "copy")
      task = TaskKind::Copy;
    else if (value == "sort")
      task = TaskKind::Sort;
    else
      return badValue(name, value, "is not a task (copy or sort)");
  } else if (name == "batch") {
    status = parseInteger(name, value, 1, batch);
  } else if (name == "seq") {
    status = parseInteger(name, value, 3, seq);
  } else if (name == "seed") {
    uint64_t parsed = 0;
    const char *first = value.data(), *last = first + value.size();
    auto [ptr, ec] = std::from_chars(first, last, parsed);
    if (first == last || ec != std::errc() || ptr != last)
      return badValue(name, value, "is not a non-negative 64-bit integer");
    seed = parsed;
  } else if (name == "steps") {
    status = parseInteger(name, value, 1, steps);
    schedule.totalSteps = steps;
  } else if (name == "optimizer") {
    if (value == "adamw")
      o.kind = OptimizerKind::AdamW;
    else if (value == "sgd")
      o.kind = OptimizerKind::SGD;
    else
      return badValue(name, value, "is not an optimizer (adamw or sgd)");
    if (!weightDecaySet)
      o.weightDecay = defaultWeightDecay(o.kind);
  } else if (name == "lr") {
    status = parseReal(name, value, 0, schedule.maxLr);
  } else if (name == "min-lr") {
    status = parseReal(name, value, 0, schedule.minLr);
  } else if (name == "warmup") {
    status = parseInteger(name, value, 0, schedule.warmupSteps);
  } else if (name == "schedule") {
    if (value == "cosine")
      schedule.cosine = true;
    else if (value == "constant")
      schedule.cosine = false;
    else
      return badValue(name, value, "is not a schedule (cosine or constant)");
  } else if (name == "weight-decay") {
    status = parseReal(name, value, 0, o.weightDecay);
    weightDecaySet |= status == ROTOR_OK;
  } else if (name == "beta1") {
    status = parseReal(name, value, 0, o.beta1);
  } else if (name == "beta2") {
    status = parseReal(name, value, 0, o.beta2);
  } else if (name == "eps") {
    status = parseReal(name, value, 0, o.eps);
  } else if (name == "momentum") {
    status = parseReal(name, value, 0, o.momentum);
  } else if (name == "dampening") {
    status = parseReal(name, value, -INFINITY, o.dampening);
  } else if (name == "nesterov") {
    status = parseBool(name, value, o.nesterov);
  } else if (name == "decay-all") {
    status = parseBool(name, value, o.decayAll);
  } else if (name == "clip") {
    status = parseReal(name, value, 0, clip);
  } else if (name == "loss-scale") {
    if (value == "dynamic")
      lossScaling = true;
    else if (value == "none")
      lossScaling = false;
    else
      return badValue(name, value, "is not a loss scaling (none or dynamic)");
  } else if (name == "loss-scale-init") {
    double parsed = 0;
    status = parseReal(name, value, 0, parsed);
    if (status == ROTOR_OK && parsed <= 0)
      return badValue(name, value, "must be positive");
    if (status == ROTOR_OK)
      scaler.initScale = parsed;
  } else if (name == "loss-scale-growth-interval") {
    integer = scaler.growthInterval;
    status = parseInteger(name, value, 1, integer);
    scaler.growthInterval = integer;
  } else {
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "unknown training option ",
                quote(name));
  }
  return status;
}

rotor_status TrainConfig::validate() const {
  if (schedule.warmupSteps > steps)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "warmup: ", schedule.warmupSteps,
                " warmup steps exceed the ", steps, " steps of the run");
  if (schedule.minLr > schedule.maxLr)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "min-lr: ", schedule.minLr,
                " exceeds lr ", schedule.maxLr);
  return train::validate(optimizer);
}
