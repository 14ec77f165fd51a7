//===- Trainer.cpp - The training loop over an artifact's train_step ------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// One step: call train_step on the batch and the current parameters, take
// the gradients (unscaled and checked under loss scaling), clip them, apply
// the optimizer with the scheduled learning rate. The trainer owns the f32
// parameters and passes them to every call; the artifact's weights file only
// gives their initial values.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include "rotor/Float16.h"

#include "Artifact.h"
#include "Backend.h"
#include "Error.h"
#include "Tensor.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace rotor;
using namespace rotor::train;

/// Where each role sits in train_step's signature.
struct Trainer::Entry {
  size_t numInputs = 0, numOutputs = 0;
  size_t idsInput = 0, labelsInput = 0;
  /// -1 without a loss_scale input.
  long scaleInput = -1;
  size_t lossOutput = 0;
  /// For params[i]: its input and its gradient's output.
  std::vector<size_t> paramInputs, gradOutputs;
};

Trainer::~Trainer() = default;

namespace {

constexpr const char *gradPrefix = "grad.";
constexpr const char *embeddingName = "model.embed_tokens.weight";
constexpr const char *ropeBaseSuffix = "rope.base";

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string argWhat(const char *direction, size_t index,
                    const rotor_arg_info &arg) {
  return strCat("entry '", trainEntryName, "' ", direction, " ", index, " (",
                quote(arg.name), ")");
}

std::vector<int64_t> argShape(const rotor_arg_info &arg) {
  return std::vector<int64_t>(arg.shape, arg.shape + arg.rank);
}

/// Checks a token input: i64 (B, S), static sizes matching the config.
rotor_status checkTokens(size_t index, const rotor_arg_info &arg,
                         const TrainConfig &config) {
  std::string what = argWhat("input", index, arg);
  if (arg.dtype != ROTOR_I64 || arg.rank != 2)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " is ",
                rotor_dtype_name(arg.dtype), " ",
                formatShapeList(argShape(arg)), "; expected i64 (batch, seq)");
  int64_t want[2] = {config.batch, config.seq};
  const char *names[2] = {"batch", "seq"};
  for (int d = 0; d < 2; ++d)
    if (arg.shape[d] != ROTOR_DYNAMIC_DIM && arg.shape[d] != want[d])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " has ", names[d],
                  " size ", arg.shape[d], " but the run uses ", names[d], "=",
                  want[d]);
  return ROTOR_OK;
}

/// The f32 values of a weight: f32 as is, bf16 and f16 widened exactly (the
/// initial master weights of a 16-bit model's training step).
rotor_status readFloats(const rotor_tensor *tensor, std::vector<float> &out) {
  out.resize(static_cast<size_t>(tensor->numel));
  const auto *bits = static_cast<const uint16_t *>(tensor->data);
  switch (tensor->dtype) {
  case ROTOR_F32:
    if (tensor->numel)
      std::memcpy(out.data(), tensor->data, tensor->nbytes);
    return ROTOR_OK;
  case ROTOR_BF16:
    for (size_t k = 0; k < out.size(); ++k)
      out[k] = bf16ToFloat(bits[k]);
    return ROTOR_OK;
  case ROTOR_F16:
    for (size_t k = 0; k < out.size(); ++k)
      out[k] = halfToFloat(bits[k]);
    return ROTOR_OK;
  default:
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "expected an f32, bf16 or f16 tensor, got ",
                rotor_dtype_name(tensor->dtype));
  }
}

} // namespace

rotor_status Trainer::create(rotor_artifact *artifact,
                             const TrainConfig &config,
                             std::unique_ptr<Trainer> &out) {
  return guard([&]() -> rotor_status {
    if (rotor_status s = config.validate())
      return s;
    size_t index;
    if (rotor_artifact_find_entry(artifact, trainEntryName, &index) !=
        ROTOR_OK)
      return fail(ROTOR_ERR_NOT_FOUND, rotor_last_error(),
                  "; training needs an artifact compiled with rotorc --train");
    std::unique_ptr<Trainer> trainer(new Trainer());
    trainer->artifact = artifact;
    trainer->cfg = config;
    trainer->cfg.schedule.totalSteps = config.steps;
    trainer->entry = std::make_unique<Entry>();
    Entry &e = *trainer->entry;
    e.numInputs = rotor_entry_num_inputs(artifact, index);
    e.numOutputs = rotor_entry_num_outputs(artifact, index);

    bool haveIds = false, haveLabels = false;
    std::vector<Parameter> &params = trainer->params;
    for (size_t i = 0; i < e.numInputs; ++i) {
      rotor_arg_info arg;
      rotor_entry_input(artifact, index, i, &arg);
      std::string name = arg.name;
      if (name == "input_ids" || name == "labels") {
        if (rotor_status s = checkTokens(i, arg, config))
          return s;
        (name == "input_ids" ? e.idsInput : e.labelsInput) = i;
        (name == "input_ids" ? haveIds : haveLabels) = true;
        continue;
      }
      if (name == "loss_scale") {
        if (arg.dtype != ROTOR_F32 || arg.rank != 0)
          return fail(ROTOR_ERR_INVALID_ARGUMENT, argWhat("input", i, arg),
                      " must be an f32 scalar");
        e.scaleInput = static_cast<long>(i);
        continue;
      }
      std::vector<int64_t> shape = argShape(arg);
      if (arg.dtype != ROTOR_F32)
        return fail(ROTOR_ERR_UNSUPPORTED, argWhat("input", i, arg),
                    ", a parameter, is ", rotor_dtype_name(arg.dtype),
                    "; the trainer trains f32 parameters (rotorc --train "
                    "--dtype=f32)");
      for (int64_t size : shape)
        if (size == ROTOR_DYNAMIC_DIM)
          return fail(ROTOR_ERR_INVALID_ARGUMENT, argWhat("input", i, arg),
                      ", a parameter, has a dynamic shape ",
                      formatShapeList(shape));
      const rotor_tensor *initial;
      if (rotor_artifact_find_weight(artifact, name.c_str(), &initial) !=
          ROTOR_OK)
        return fail(ROTOR_ERR_NOT_FOUND, argWhat("input", i, arg),
                    " is a parameter without an initial value: the "
                    "artifact's weights file has no tensor ",
                    quote(name), " (compile with --weights)");
      Parameter param;
      param.name = name;
      param.shape = shape;
      if (rotor_status s = readFloats(initial, param.value))
        return s;
      param.grad.assign(param.value.size(), 0.0f);
      param.decay = shape.size() >= 2;
      if (endsWith(name, ropeBaseSuffix)) {
        param.logSpace = true;
        for (float &value : param.value) {
          if (!(value > 0))
            return fail(ROTOR_ERR_INVALID_ARGUMENT, "parameter ", quote(name),
                        " (a RoPE base) must be positive, its initial value "
                        "is ",
                        value);
          value = std::log(value);
        }
      }
      params.push_back(std::move(param));
      e.paramInputs.push_back(i);
    }
    if (!haveIds || !haveLabels)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry '", trainEntryName,
                  "' has no input '", haveIds ? "labels" : "input_ids", "'");
    if (config.lossScaling && e.scaleInput < 0)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "loss-scale: dynamic loss "
                  "scaling needs an input 'loss_scale' (f32 scalar) of entry '",
                  trainEntryName, "'; this artifact has none");

    bool haveLoss = false;
    e.gradOutputs.assign(params.size(), SIZE_MAX);
    for (size_t j = 0; j < e.numOutputs; ++j) {
      rotor_arg_info arg;
      rotor_entry_output(artifact, index, j, &arg);
      std::string name = arg.name;
      if (name == "loss") {
        if (arg.dtype != ROTOR_F32 || arg.rank != 0)
          return fail(ROTOR_ERR_INVALID_ARGUMENT, argWhat("output", j, arg),
                      " must be an f32 scalar");
        e.lossOutput = j;
        haveLoss = true;
        continue;
      }
      if (name.compare(0, std::strlen(gradPrefix), gradPrefix) != 0)
        continue;
      std::string target = name.substr(std::strlen(gradPrefix));
      size_t p = 0;
      while (p < params.size() && params[p].name != target)
        ++p;
      if (p == params.size())
        return fail(ROTOR_ERR_INVALID_ARGUMENT, argWhat("output", j, arg),
                    " is the gradient of ", quote(target),
                    ", which is not a parameter input");
      if (arg.dtype != ROTOR_F32 || argShape(arg) != params[p].shape)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, argWhat("output", j, arg),
                    " is ", rotor_dtype_name(arg.dtype), " ",
                    formatShapeList(argShape(arg)), " but parameter ",
                    quote(target), " is f32 ",
                    formatShapeList(params[p].shape));
      e.gradOutputs[p] = j;
    }
    if (!haveLoss)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry '", trainEntryName,
                  "' has no output 'loss'");
    for (size_t p = 0; p < params.size(); ++p)
      if (e.gradOutputs[p] == SIZE_MAX)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry '", trainEntryName,
                    "' has no output 'grad.", params[p].name,
                    "' for parameter ", quote(params[p].name));

    const Parameter *embedding = nullptr;
    for (const Parameter &param : params)
      if (param.name == embeddingName)
        embedding = &param;
    if (!embedding || embedding->shape.size() != 2)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry '", trainEntryName,
                  "' has no parameter '", embeddingName,
                  "' of rank 2 to take the vocabulary size from");
    trainer->vocab = embedding->shape[0];
    trainer->task = std::make_unique<SyntheticTask>(
        config.task, trainer->vocab, config.seed);
    if (rotor_status s = trainer->task->validate(config.batch, config.seq))
      return s;

    trainer->opt = Optimizer::create(config.optimizer);
    trainer->opt->init(params);
    if (config.lossScaling)
      trainer->scaler = std::make_unique<LossScaler>(config.scaler);
    // On a GPU, parameters, gradients and optimizer state stay in device
    // memory (ROTOR_TRAIN_HOST_UPDATE=1 keeps the host optimizer).
    const char *hostUpdate = std::getenv("ROTOR_TRAIN_HOST_UPDATE");
    if (!(hostUpdate && std::strcmp(hostUpdate, "1") == 0)) {
      std::vector<ResidentParam> resident;
      for (size_t p = 0; p < params.size(); ++p)
        resident.push_back({e.paramInputs[p], e.gradOutputs[p],
                            params[p].value.size(), params[p].logSpace});
      if (rotor_status s = artifact->backend->createResidentTrainer(
              index, resident, trainer->opt->stateNames().size(),
              trainer->resident))
        return s;
    }
    out = std::move(trainer);
    return ROTOR_OK;
  });
}

double Trainer::lossScale() const { return scaler ? scaler->scale() : 1.0; }

rotor_status Trainer::step(StepMetrics &out) {
  return step(task->make(static_cast<uint64_t>(iter), cfg.batch, cfg.seq),
              out);
}

rotor_status Trainer::step(const Batch &batch, StepMetrics &out) {
  return guard([&]() -> rotor_status {
    auto start = std::chrono::steady_clock::now();
    if (batch.batch != cfg.batch || batch.seq != cfg.seq ||
        batch.inputIds.size() != static_cast<size_t>(batch.batch * batch.seq) ||
        batch.labels.size() != batch.inputIds.size())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "batch of shape [", batch.batch,
                  ", ", batch.seq, "] does not match the run's [", cfg.batch,
                  ", ", cfg.seq, "]");
    const Entry &e = *entry;
    std::vector<TensorPtr> owned;
    std::vector<const rotor_tensor *> inputs(e.numInputs, nullptr);
    auto wrap = [&](size_t slot, rotor_dtype dtype,
                    const std::vector<int64_t> &shape,
                    const void *data) -> rotor_status {
      TensorPtr tensor;
      if (rotor_status s =
              wrapTensor(dtype, shape, const_cast<void *>(data), tensor))
        return s;
      inputs[slot] = tensor.get();
      owned.push_back(std::move(tensor));
      return ROTOR_OK;
    };
    std::vector<int64_t> tokenShape = {batch.batch, batch.seq};
    if (rotor_status s =
            wrap(e.idsInput, ROTOR_I64, tokenShape, batch.inputIds.data()))
      return s;
    if (rotor_status s =
            wrap(e.labelsInput, ROTOR_I64, tokenShape, batch.labels.data()))
      return s;
    float scale = static_cast<float>(lossScale());
    if (e.scaleInput >= 0)
      if (rotor_status s =
              wrap(static_cast<size_t>(e.scaleInput), ROTOR_F32, {}, &scale))
        return s;
    // Log-space parameters go in as exp(value).
    std::vector<std::vector<float>> exponentials(params.size());
    for (size_t p = 0; p < params.size(); ++p) {
      const Parameter &param = params[p];
      const float *data = param.value.data();
      if (param.logSpace && !resident) {
        for (float value : param.value)
          exponentials[p].push_back(std::exp(value));
        data = exponentials[p].data();
      }
      if (rotor_status s =
              wrap(e.paramInputs[p], ROTOR_F32, param.shape, data))
        return s;
    }

    if (resident) {
      StepMetrics metrics;
      metrics.step = iter + 1;
      metrics.lossScale = scale;
      metrics.tokens = batch.batch * batch.seq;
      metrics.lr = cfg.schedule.at(iter);
      if (rotor_status s = residentStep(inputs, metrics))
        return s;
      if (scaler)
        scaler->update(metrics.skipped);
      ++iter;
      metrics.seconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      records.push_back(metrics);
      out = metrics;
      return ROTOR_OK;
    }

    std::vector<rotor_tensor *> raw(e.numOutputs, nullptr);
    if (rotor_call(artifact, trainEntryName, inputs.data(), inputs.size(),
                   raw.data(), raw.size()) != ROTOR_OK)
      return fail(ROTOR_ERR_BACKEND, "step ", iter + 1, ": ",
                  rotor_last_error());
    std::vector<TensorPtr> outputs;
    for (rotor_tensor *tensor : raw)
      outputs.emplace_back(tensor);
    float loss;
    std::memcpy(&loss, outputs[e.lossOutput]->data, sizeof(float));
    for (size_t p = 0; p < params.size(); ++p) {
      Parameter &param = params[p];
      std::memcpy(param.grad.data(), outputs[e.gradOutputs[p]]->data,
                  param.grad.size() * sizeof(float));
      // d/d(log x) = x * d/dx.
      if (param.logSpace)
        for (size_t k = 0; k < param.grad.size(); ++k)
          param.grad[k] = param.grad[k] * exponentials[p][k];
    }

    StepMetrics metrics;
    metrics.step = iter + 1;
    metrics.loss = loss;
    metrics.lossScale = scale;
    metrics.tokens = batch.batch * batch.seq;
    metrics.lr = cfg.schedule.at(iter);
    bool nonFinite = !std::isfinite(loss);
    if (scaler) {
      nonFinite |= scaler->unscale(params);
    } else {
      for (const Parameter &param : params)
        for (float g : param.grad)
          if (!std::isfinite(g))
            return fail(ROTOR_ERR_BACKEND, "step ", iter + 1,
                        ": the gradient of ", quote(param.name),
                        " is not finite (loss ", loss,
                        "); lower the learning rate or use --clip");
      if (nonFinite)
        return fail(ROTOR_ERR_BACKEND, "step ", iter + 1, ": the loss is ",
                    loss, "; lower the learning rate or use --clip");
    }
    if (nonFinite) {
      metrics.skipped = true;
      metrics.gradNorm = NAN;
    } else {
      metrics.gradNorm = clipGradNorm(params, cfg.clip);
      opt->step(params, metrics.lr);
    }
    if (scaler)
      scaler->update(nonFinite);
    ++iter;
    metrics.seconds = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    records.push_back(metrics);
    out = metrics;
    return ROTOR_OK;
  });
}

/// One step with the state on the device: the same decisions as the host
/// path above (non-finite gradients, clipping, the update), made on the
/// per-tensor sums of squares the device returns.
rotor_status
Trainer::residentStep(const std::vector<const rotor_tensor *> &inputs,
                      StepMetrics &metrics) {
  if (deviceStale) {
    if (rotor_status s = transferState(true))
      return s;
    deviceStale = false;
  }
  float inverse = scaler ? static_cast<float>(1.0 / scaler->scale()) : 1.0f;
  float loss = 0;
  std::vector<double> sums;
  rotor_status run =
      resident->run(inputs.data(), entry->lossOutput, scaler != nullptr,
                    inverse, loss, sums);
  hostStale = true;
  if (run != ROTOR_OK)
    return fail(ROTOR_ERR_BACKEND, "step ", iter + 1, ": ", rotor_last_error());
  metrics.loss = loss;
  bool nonFinite = !std::isfinite(loss);
  for (size_t p = 0; p < params.size(); ++p)
    if (!std::isfinite(sums[p])) {
      if (!scaler)
        return fail(ROTOR_ERR_BACKEND, "step ", iter + 1,
                    ": the gradient of ", quote(params[p].name),
                    " is not finite (loss ", loss,
                    "); lower the learning rate or use --clip");
      nonFinite = true;
    }
  if (nonFinite && !scaler)
    return fail(ROTOR_ERR_BACKEND, "step ", iter + 1, ": the loss is ", loss,
                "; lower the learning rate or use --clip");
  if (nonFinite) {
    metrics.skipped = true;
    metrics.gradNorm = NAN;
    return ROTOR_OK;
  }
  metrics.gradNorm = combineNorms(sums);
  float coefficient = clipCoefficient(metrics.gradNorm, cfg.clip);
  opt->countStep();
  std::vector<UpdateScalars> updates;
  for (const Parameter &param : params)
    updates.push_back(opt->scalars(param, metrics.lr));
  return resident->update(updates, coefficient != 1.0f, coefficient);
}

rotor_status Trainer::syncHost() const {
  if (!resident || !hostStale)
    return ROTOR_OK;
  if (rotor_status s = transferState(false))
    return s;
  hostStale = false;
  return ROTOR_OK;
}

/// Copies every parameter's value and optimizer state vectors to the
/// device-resident state (`toDevice`) or back.
rotor_status Trainer::transferState(bool toDevice) const {
  size_t numSlots = opt->stateNames().size();
  for (size_t p = 0; p < params.size(); ++p)
    for (size_t slot = 0; slot <= numSlots; ++slot) {
      float *data = slot == 0 ? params[p].value.data()
                              : opt->state(slot - 1, p).data();
      if (rotor_status s = toDevice ? resident->upload(p, slot, data)
                                    : resident->download(p, slot, data))
        return s;
    }
  return ROTOR_OK;
}
