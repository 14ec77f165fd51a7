//===- train.h - Training in the runtime ------------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Trains the parameters of an artifact with a `train_step` entry
// (docs/training.md has the contract and the choices made):
//
//   train_step(input_ids i64 (B,S), labels i64 (B,S), [loss_scale f32 ()],
//              params...) -> (loss f32 (), grad.<param>...)
//
// The pieces, usable on their own:
//  - Optimizer: AdamW and SGD with momentum, with torch.optim semantics
//    (the same formulas, in f32, in the same order);
//  - clipGradNorm: torch.nn.utils.clip_grad_norm_;
//  - LrSchedule: linear warmup, then cosine decay to a minimum;
//  - LossScaler: dynamic loss scaling (torch.amp.GradScaler's rules);
//  - SyntheticTask: seeded copy and sort tasks;
//  - Trainer: the loop over train_step calls, checkpoints (safetensors with
//    Hugging Face names, written atomically, resumed exactly) and the export
//    of the final weights for transformers;
//  - TrainConfig: every option that determines the numbers of a run, as
//    name=value pairs (the `rotor-run train` options, the checkpoint's
//    metadata);
//  - writeLossPlot: a PNG line plot of the loss.
//
// Like the rest of the runtime, fallible functions return a rotor_status and
// set rotor_last_error().
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TRAIN_H
#define ROTOR_TRAIN_H

#include "rotor/runtime.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rotor {
class ResidentTrainer;
}

namespace rotor::train {

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

/// One trainable f32 tensor and its gradient, dense row-major.
struct Parameter {
  /// The Hugging Face name (`model.layers.0.self_attn.q_proj.weight`).
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> value;
  std::vector<float> grad;
  /// Whether weight decay applies (see OptimizerOptions::decayAll).
  bool decay = true;
  /// The optimizer works on log(x) instead of x: `value` holds log(x), the
  /// entry gets exp(value) and `grad` is x * dLoss/dx. Set for learned RoPE
  /// bases (`...rope.base`), whose scale (1e4) is far from the step size of
  /// Adam (about lr per step); see docs/training.md.
  bool logSpace = false;
};

/// The number of elements of `shape`.
int64_t numElements(const std::vector<int64_t> &shape);

//===----------------------------------------------------------------------===//
// Optimizers
//===----------------------------------------------------------------------===//

enum class OptimizerKind { AdamW, SGD };

/// Hyperparameters, with torch.optim's defaults.
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::AdamW;
  /// AdamW.
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  /// Decoupled (AdamW: p *= 1 - lr*wd) or L2 (SGD: g += wd*p). torch's
  /// defaults are 0.01 for AdamW and 0 for SGD; see defaultWeightDecay.
  double weightDecay = 0.01;
  /// SGD.
  double momentum = 0, dampening = 0;
  bool nesterov = false;
  /// Apply weight decay to every parameter; by default parameters of rank
  /// 0 and 1 (biases, norm scales, RoPE bases, gates) are exempt, as the
  /// Hugging Face Trainer does.
  bool decayAll = false;
};

/// torch's default weight decay for `kind` (0.01 for AdamW, 0 for SGD).
double defaultWeightDecay(OptimizerKind kind);

/// "adamw" or "sgd".
const char *optimizerName(OptimizerKind kind);

/// Checks the hyperparameters as torch does (0 <= beta < 1, eps >= 0,
/// weight decay >= 0, momentum >= 0, nesterov needs momentum > 0 and
/// dampening 0). The message names the option.
rotor_status validate(const OptimizerOptions &options);

/// The scalars of one parameter's update, as the host optimizer applies
/// them and as the device-resident trainer passes them to the GPU
/// (rotor/cuda/optim.cuh).
struct UpdateScalars {
  bool adamw = true;
  /// AdamW: {apply_decay, small_weight}; SGD: {apply_decay, use_momentum,
  /// first_step, nesterov}.
  bool flags[4] = {false, false, false, false};
  /// AdamW: {decay, weight, beta2, 1 - beta2, step_size, sqrt(correction2),
  /// eps}; SGD: {decay, momentum, 1 - dampening, -lr}.
  float scalars[7] = {0, 0, 0, 0, 0, 0, 0};
};

/// An optimizer over a fixed list of parameters. State is kept per
/// parameter as f32 vectors of the parameter's size, under names that the
/// checkpoint uses as suffixes (`NAME.exp_avg`).
class Optimizer {
public:
  virtual ~Optimizer();

  static std::unique_ptr<Optimizer> create(const OptimizerOptions &options);

  const OptimizerOptions &options() const { return opts; }

  /// Sizes the state for `params` (zeros, no update done yet).
  void init(const std::vector<Parameter> &params);

  /// One update of every parameter from its `grad` with learning rate `lr`.
  void step(std::vector<Parameter> &params, double lr);

  /// How many updates were applied (torch's `state['step']`).
  int64_t steps() const { return numSteps; }

  /// Counts one update done elsewhere (the device-resident trainer), so
  /// that scalars() gives the next update's values.
  void countStep() { ++numSteps; }

  /// The scalars of `param`'s update with learning rate `lr` at the current
  /// count (which already includes this update).
  virtual UpdateScalars scalars(const Parameter &param, double lr) const = 0;

  /// The names of the per-parameter state vectors ("exp_avg", ...).
  virtual std::vector<std::string> stateNames() const = 0;

  /// State vector `slot` (an index into stateNames()) of parameter `param`.
  std::vector<float> &state(size_t slot, size_t param) {
    return slots[slot][param];
  }
  const std::vector<float> &state(size_t slot, size_t param) const {
    return slots[slot][param];
  }

  /// Restores the update count (with the state vectors, from a checkpoint).
  void setSteps(int64_t steps) { numSteps = steps; }

protected:
  explicit Optimizer(const OptimizerOptions &options) : opts(options) {}
  /// Updates `param` (index `index`); numSteps already counts this update.
  virtual void update(Parameter &param, size_t index, double lr) = 0;

  OptimizerOptions opts;
  int64_t numSteps = 0;
  /// slots[slot][param].
  std::vector<std::vector<std::vector<float>>> slots;
};

//===----------------------------------------------------------------------===//
// Gradient clipping, learning-rate schedule, loss scaling
//===----------------------------------------------------------------------===//

/// The global 2-norm of all gradients (accumulated in f64).
double gradNorm(const std::vector<Parameter> &params);

/// The global 2-norm from each gradient's sum of squares, as gradNorm
/// combines them (each tensor's norm rounded to f32, as torch computes it).
double combineNorms(const std::vector<double> &sumSquares);

/// clip_grad_norm_'s factor min(1, maxNorm / (total + 1e-6)) in f32; 1
/// when maxNorm <= 0 (no clipping).
float clipCoefficient(double total, double maxNorm);

/// torch.nn.utils.clip_grad_norm_(params, maxNorm): with `total` the global
/// 2-norm, multiplies every gradient by min(1, maxNorm / (total + 1e-6))
/// (in f32). Returns `total`, the norm before clipping.
double clipGradNorm(std::vector<Parameter> &params, double maxNorm);

/// Linear warmup to `maxLr` over `warmupSteps`, then cosine decay to `minLr`
/// at `totalSteps`:
///   t < warmup:  maxLr * (t + 1) / warmup
///   otherwise:   minLr + (maxLr - minLr) * (1 + cos(pi * p)) / 2,
///                p = (t - warmup) / max(1, total - warmup), clamped to 1
/// for the 0-based iteration t. `cosine = false` keeps maxLr after warmup.
struct LrSchedule {
  double maxLr = 1e-3;
  double minLr = 0;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 1;
  bool cosine = true;

  double at(int64_t iteration) const;
};

/// Dynamic loss scaling with torch.amp.GradScaler's rules: gradients come
/// scaled by `scale()`; unscale() multiplies them by the f32 reciprocal and
/// reports non-finite values; update() halves the scale (backoff) after a
/// step with non-finite gradients, which the caller skips, and doubles it
/// (growth) after `growthInterval` finite steps in a row.
struct LossScalerOptions {
  double initScale = 65536.0;
  double growthFactor = 2.0;
  double backoffFactor = 0.5;
  int64_t growthInterval = 2000;
};

class LossScaler {
public:
  explicit LossScaler(const LossScalerOptions &options = {})
      : opts(options), currentScale(static_cast<float>(options.initScale)) {}

  double scale() const { return currentScale; }
  int64_t growthTracker() const { return tracker; }
  /// Restores the state from a checkpoint.
  void restore(double scale, int64_t growthTracker) {
    currentScale = scale;
    tracker = growthTracker;
  }

  /// Unscales every gradient; returns true if one is not finite.
  bool unscale(std::vector<Parameter> &params) const;

  /// Adjusts the scale after a step (see above).
  void update(bool foundNonFinite);

private:
  LossScalerOptions opts;
  double currentScale;
  int64_t tracker = 0;
};

//===----------------------------------------------------------------------===//
// Synthetic data
//===----------------------------------------------------------------------===//

/// One batch: row-major (batch, seq) token ids and labels (-100: ignored).
struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int64_t> inputIds, labels;
};

/// The label value that the loss ignores.
constexpr int64_t ignoreIndex = -100;

enum class TaskKind { Copy, Sort };

/// "copy" or "sort".
const char *taskName(TaskKind kind);

/// Seeded sequence tasks. Token 0 is the separator; symbols are 1..vocab-1.
/// With n = (seq - 1) / 2 each row is
///
///   a_1 .. a_n  0  b_1 .. b_n  [0 if seq is even]
///
/// with a_i uniform symbols and b = a (copy) or b = sorted(a) (sort). The
/// labels are the next token where it is determined by the prompt:
/// labels[s] = ids[s + 1] for n <= s < 2n, -100 elsewhere, so a perfect
/// model reaches zero loss. Batch `index` depends only on (seed, index),
/// which makes a resumed run see the same data.
class SyntheticTask {
public:
  SyntheticTask(TaskKind kind, int64_t vocab, uint64_t seed)
      : kind(kind), vocab(vocab), seed(seed) {}

  /// Checks vocab >= 3 and seq >= 3 (one symbol each side and the
  /// separator), naming the numbers.
  rotor_status validate(int64_t batch, int64_t seq) const;

  /// Batch number `index` (0-based) of `batch` rows of length `seq`.
  Batch make(uint64_t index, int64_t batch, int64_t seq) const;

private:
  TaskKind kind;
  int64_t vocab;
  uint64_t seed;
};

//===----------------------------------------------------------------------===//
// Configuration
//===----------------------------------------------------------------------===//

/// Everything that determines the numbers of a run. Stored in checkpoints
/// and compared on resume.
struct TrainConfig {
  TaskKind task = TaskKind::Copy;
  int64_t batch = 8;
  int64_t seq = 17;
  uint64_t seed = 0;
  int64_t steps = 200;
  OptimizerOptions optimizer;
  /// maxLr, minLr and warmupSteps; totalSteps is `steps`.
  LrSchedule schedule;
  /// Global-norm clipping threshold; 0 disables clipping.
  double clip = 1.0;
  /// Dynamic loss scaling (needs the entry's `loss_scale` input).
  bool lossScaling = false;
  LossScalerOptions scaler;

  /// The options as (name, canonical value) pairs, names as the
  /// `rotor-run train` options: task, batch, seq, seed, steps, optimizer,
  /// lr, min-lr, warmup, schedule, weight-decay, beta1, beta2, eps, momentum,
  /// dampening, nesterov, decay-all, clip, loss-scale,
  /// loss-scale-growth-interval.
  std::vector<std::pair<std::string, std::string>> toOptions() const;

  /// Sets option `name` from its text form; an unknown name or a malformed
  /// or out-of-range value is an error naming the option and the rule.
  /// `weight-decay` defaults by optimizer (see defaultWeightDecay) unless
  /// set explicitly.
  rotor_status set(const std::string &name, const std::string &value);

  /// Checks the combination (steps > 0, warmup <= steps, the optimizer's
  /// rules, ...).
  rotor_status validate() const;

  /// Whether weight-decay was set explicitly.
  bool weightDecaySet = false;
};

/// The shortest decimal text that reads back as `value` exactly ("0.05").
std::string formatExactReal(double value);

/// The names accepted by TrainConfig::set, in toOptions() order.
const std::vector<std::string> &trainOptionNames();

//===----------------------------------------------------------------------===//
// The trainer
//===----------------------------------------------------------------------===//

/// What one training step did.
struct StepMetrics {
  /// 1-based: the number of steps done after this one.
  int64_t step = 0;
  /// The loss of the batch (before the update).
  double loss = 0;
  /// The learning rate used.
  double lr = 0;
  /// The global gradient norm before clipping (NaN when skipped).
  double gradNorm = 0;
  /// The loss scale the gradients were computed with (1 without scaling).
  double lossScale = 1;
  /// The update was skipped: non-finite gradients under loss scaling.
  bool skipped = false;
  /// Input tokens processed (batch * seq).
  int64_t tokens = 0;
  /// Seconds spent in the step (the call and the update).
  double seconds = 0;
};

/// The name of the entry the trainer calls.
constexpr const char *trainEntryName = "train_step";

class Trainer {
public:
  ~Trainer();

  /// Prepares training of `artifact` (which must outlive the trainer):
  /// finds entry train_step, checks its inputs (input_ids and labels i64
  /// (B, S), optional loss_scale f32 ()) and outputs (loss f32 (), a
  /// `grad.NAME` of the same dtype and shape for every parameter NAME: each
  /// other input, f32), and takes the initial parameter values from the
  /// artifact's weights file. The vocabulary is the first dimension of
  /// `model.embed_tokens.weight`.
  static rotor_status create(rotor_artifact *artifact,
                             const TrainConfig &config,
                             std::unique_ptr<Trainer> &out);

  /// Runs one step on the task's next batch.
  rotor_status step(StepMetrics &out);

  /// Runs one step on `batch` (its shape must be the config's).
  rotor_status step(const Batch &batch, StepMetrics &out);

  /// Steps done so far (including skipped ones).
  int64_t iteration() const { return iter; }

  const TrainConfig &config() const { return cfg; }
  const std::vector<Parameter> &parameters() const { return params; }
  const Optimizer &optimizer() const { return *opt; }
  double lossScale() const;
  int64_t vocabSize() const { return vocab; }
  /// The metrics of every step so far (restored by resume()).
  const std::vector<StepMetrics> &history() const { return records; }

  /// Writes a checkpoint to `path` atomically: every parameter under its
  /// name, the optimizer state as NAME.SLOT (NAME.exp_avg, ...), the history
  /// as `rotor.train.history`, and in __metadata__ the configuration
  /// (`rotor.train.OPTION`) and the counters (step, optimizer steps, loss
  /// scale and growth tracker).
  rotor_status save(const std::string &path) const;

  /// Restores the state saved by save(): the checkpoint must hold this
  /// configuration, the same parameters (names, shapes) and optimizer.
  /// The following steps then give the same numbers, bit for bit, as an
  /// uninterrupted run.
  rotor_status resume(const std::string &path);

  /// Writes the parameters alone, under their Hugging Face names, as a
  /// .safetensors file that transformers loads (metadata format=pt).
  /// Rotor-specific parameters stay in (transformers ignores unknown keys);
  /// with tied embeddings there is no lm_head.weight, as transformers
  /// expects.
  rotor_status exportWeights(const std::string &path) const;

  /// True when the parameters, gradients and optimizer state live on the
  /// GPU between steps (an artifact loaded on the CUDA device, unless
  /// ROTOR_TRAIN_HOST_UPDATE=1): each step then moves only the batch and the
  /// scalars.
  bool deviceResident() const { return resident != nullptr; }

  /// Makes parameters() and optimizer() current after device-resident steps
  /// (save() and exportWeights() do it themselves).
  rotor_status syncHost() const;

  /// Writes the batches the run trains on, numbers `first` .. `first +
  /// count - 1` (0-based; batch t is the one of step t + 1), atomically to
  /// the .safetensors file `path`: `input_ids` and `labels`, I64 (count,
  /// batch, seq), and in __metadata__ the run's options (`rotor.train.*`, as
  /// in checkpoints) and `rotor.train.first_batch`. A reference
  /// implementation (bench/train/torch_train.py) trains on exactly these.
  rotor_status writeBatches(const std::string &path, int64_t first,
                            int64_t count) const;

  /// Reads the configuration stored in checkpoint `path` (to resume a run
  /// whose options were not given again).
  static rotor_status readCheckpointConfig(const std::string &path,
                                           TrainConfig &out);

private:
  Trainer() = default;
  struct Entry;

  rotor_artifact *artifact = nullptr;
  TrainConfig cfg;
  std::unique_ptr<Entry> entry;
  /// Current unless hostStale (device-resident training).
  mutable std::vector<Parameter> params;
  std::unique_ptr<ResidentTrainer> resident;
  /// The device holds newer values than `params` / the host newer ones.
  mutable bool hostStale = false;
  bool deviceStale = true;
  rotor_status residentStep(const std::vector<const rotor_tensor *> &inputs,
                            StepMetrics &metrics);
  rotor_status transferState(bool toDevice) const;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<SyntheticTask> task;
  int64_t vocab = 0;
  int64_t iter = 0;
  std::vector<StepMetrics> records;
};

//===----------------------------------------------------------------------===//
// Loss plot
//===----------------------------------------------------------------------===//

/// Writes a PNG (RGB, 8 bits, `width` x `height`, at least 160 x 120)
/// plotting `loss` against `step` as a line, with axes, ticks and tick
/// labels, atomically to `path`. Non-finite losses are left out.
rotor_status writeLossPlot(const std::string &path,
                           const std::vector<double> &step,
                           const std::vector<double> &loss, int width = 800,
                           int height = 480);

} // namespace rotor::train

#endif // ROTOR_TRAIN_H
