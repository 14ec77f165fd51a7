//===- Optimizer.cpp - AdamW and SGD with torch.optim semantics -----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The updates follow torch.optim's single-tensor implementations formula by
// formula: scalars (bias corrections, step sizes) in double, as Python
// computes them, then rounded to f32 and applied to the f32 tensors in the
// order of torch's CPU kernels (lerp, addcmul, addcdiv, add with alpha). This
// file is compiled with -ffp-contract=off so that no multiply-add is fused.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include "Error.h"

#include <cmath>

using namespace rotor;
using namespace rotor::train;

int64_t rotor::train::numElements(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t size : shape)
    count *= size;
  return count;
}

double rotor::train::defaultWeightDecay(OptimizerKind kind) {
  return kind == OptimizerKind::AdamW ? 0.01 : 0.0;
}

const char *rotor::train::optimizerName(OptimizerKind kind) {
  return kind == OptimizerKind::AdamW ? "adamw" : "sgd";
}

rotor_status rotor::train::validate(const OptimizerOptions &o) {
  auto bad = [](const char *option, double value, const char *rule) {
    return fail(ROTOR_ERR_INVALID_ARGUMENT, option, ": ", value, " ", rule);
  };
  if (!(o.weightDecay >= 0) || !std::isfinite(o.weightDecay))
    return bad("weight-decay", o.weightDecay, "must be finite and >= 0");
  if (o.kind == OptimizerKind::AdamW) {
    if (!(o.beta1 >= 0 && o.beta1 < 1))
      return bad("beta1", o.beta1, "must be in [0, 1)");
    if (!(o.beta2 >= 0 && o.beta2 < 1))
      return bad("beta2", o.beta2, "must be in [0, 1)");
    if (!(o.eps >= 0) || !std::isfinite(o.eps))
      return bad("eps", o.eps, "must be finite and >= 0");
    return ROTOR_OK;
  }
  if (!(o.momentum >= 0) || !std::isfinite(o.momentum))
    return bad("momentum", o.momentum, "must be finite and >= 0");
  if (!std::isfinite(o.dampening))
    return bad("dampening", o.dampening, "must be finite");
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "nesterov: Nesterov momentum needs momentum > 0 and dampening "
                "0 (got momentum ",
                o.momentum, ", dampening ", o.dampening, ")");
  return ROTOR_OK;
}

Optimizer::~Optimizer() = default;

void Optimizer::init(const std::vector<Parameter> &params) {
  numSteps = 0;
  slots.assign(stateNames().size(), {});
  for (std::vector<std::vector<float>> &slot : slots)
    for (const Parameter &param : params)
      slot.emplace_back(param.value.size(), 0.0f);
}

void Optimizer::step(std::vector<Parameter> &params, double lr) {
  ++numSteps;
  for (size_t i = 0; i < params.size(); ++i)
    update(params[i], i, lr);
}

namespace {

/// torch.optim.AdamW (amsgrad=False, maximize=False):
///   p *= 1 - lr*wd
///   m = lerp(m, g, 1 - beta1)
///   v = v*beta2 + (1 - beta2)*g*g
///   p += -(lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
class AdamW final : public Optimizer {
public:
  explicit AdamW(const OptimizerOptions &options) : Optimizer(options) {}

  std::vector<std::string> stateNames() const override {
    return {"exp_avg", "exp_avg_sq"};
  }

  UpdateScalars scalars(const Parameter &param, double lr) const override {
    UpdateScalars u;
    u.adamw = true;
    double wd = param.decay || opts.decayAll ? opts.weightDecay : 0.0;
    double t = static_cast<double>(numSteps);
    float weight = static_cast<float>(1 - opts.beta1);
    double correction1 = 1 - std::pow(opts.beta1, t);
    double correction2 = 1 - std::pow(opts.beta2, t);
    u.flags[0] = wd != 0;
    // at::lerp takes the other branch for weights of 0.5 and more.
    u.flags[1] = std::fabs(weight) < 0.5f;
    u.scalars[0] = static_cast<float>(1 - lr * wd);
    u.scalars[1] = weight;
    u.scalars[2] = static_cast<float>(opts.beta2);
    u.scalars[3] = static_cast<float>(1 - opts.beta2);
    u.scalars[4] = static_cast<float>(-(lr / correction1));
    u.scalars[5] = static_cast<float>(std::sqrt(correction2));
    u.scalars[6] = static_cast<float>(opts.eps);
    return u;
  }

private:
  void update(Parameter &param, size_t index, double lr) override {
    std::vector<float> &m = slots[0][index], &v = slots[1][index];
    UpdateScalars u = scalars(param, lr);
    const bool applyDecay = u.flags[0], smallWeight = u.flags[1];
    const float decay = u.scalars[0], weight = u.scalars[1],
                beta2 = u.scalars[2], oneMinusBeta2 = u.scalars[3],
                stepSize = u.scalars[4], correction2Sqrt = u.scalars[5],
                eps = u.scalars[6];
    for (size_t k = 0; k < param.value.size(); ++k) {
      float g = param.grad[k];
      float p = param.value[k];
      if (applyDecay)
        p = p * decay;
      m[k] = smallWeight ? m[k] + weight * (g - m[k])
                         : g - (g - m[k]) * (1.0f - weight);
      v[k] = v[k] * beta2;
      v[k] = v[k] + oneMinusBeta2 * g * g;
      float denom = std::sqrt(v[k]) / correction2Sqrt + eps;
      param.value[k] = p + stepSize * m[k] / denom;
    }
  }
};

/// torch.optim.SGD (maximize=False):
///   g += wd*p
///   b = g at the first step, else b*momentum + (1 - dampening)*g
///   g = g + momentum*b (nesterov) or b
///   p += -lr*g
class SGD final : public Optimizer {
public:
  explicit SGD(const OptimizerOptions &options) : Optimizer(options) {}

  std::vector<std::string> stateNames() const override {
    if (opts.momentum == 0)
      return {};
    return {"momentum_buffer"};
  }

  UpdateScalars scalars(const Parameter &param, double lr) const override {
    UpdateScalars u;
    u.adamw = false;
    double wd = param.decay || opts.decayAll ? opts.weightDecay : 0.0;
    u.flags[0] = wd != 0;
    u.flags[1] = opts.momentum != 0;
    u.flags[2] = numSteps == 1;
    u.flags[3] = opts.nesterov;
    u.scalars[0] = static_cast<float>(wd);
    u.scalars[1] = static_cast<float>(opts.momentum);
    u.scalars[2] = static_cast<float>(1 - opts.dampening);
    u.scalars[3] = static_cast<float>(-lr);
    return u;
  }

private:
  void update(Parameter &param, size_t index, double lr) override {
    UpdateScalars u = scalars(param, lr);
    const bool applyDecay = u.flags[0], useMomentum = u.flags[1],
               firstStep = u.flags[2], nesterov = u.flags[3];
    const float decay = u.scalars[0], momentum = u.scalars[1],
                keep = u.scalars[2], minusLr = u.scalars[3];
    for (size_t k = 0; k < param.value.size(); ++k) {
      float g = param.grad[k];
      if (applyDecay)
        g = g + decay * param.value[k];
      if (useMomentum) {
        float &b = slots[0][index][k];
        b = firstStep ? g : b * momentum + keep * g;
        g = nesterov ? g + momentum * b : b;
      }
      param.value[k] = param.value[k] + minusLr * g;
    }
  }
};

} // namespace

std::unique_ptr<Optimizer>
Optimizer::create(const OptimizerOptions &options) {
  if (options.kind == OptimizerKind::AdamW)
    return std::unique_ptr<Optimizer>(new AdamW(options));
  return std::unique_ptr<Optimizer>(new SGD(options));
}
