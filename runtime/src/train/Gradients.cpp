//===- Gradients.cpp - Gradient clipping and dynamic loss scaling ---------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// clip_grad_norm_ as torch computes it: the 2-norm of each gradient (an f32
// tensor, here accumulated in f64 and rounded), the 2-norm of those norms,
// then clip_coef = max_norm / (total + 1e-6) clamped to at most 1 and every
// gradient multiplied by it, all in f32.
//
// The loss scaler follows torch.amp.GradScaler: unscaling multiplies by the
// reciprocal of the scale computed in double and rounded to f32; a step
// with a non-finite gradient is skipped and the scale multiplied by the
// backoff factor; growthInterval finite steps in a row multiply it by the
// growth factor.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include <cmath>

using namespace rotor::train;

double rotor::train::combineNorms(const std::vector<double> &sumSquares) {
  double total = 0;
  for (double sum : sumSquares) {
    double norm = static_cast<float>(std::sqrt(sum));
    total += norm * norm;
  }
  return static_cast<float>(std::sqrt(total));
}

double rotor::train::gradNorm(const std::vector<Parameter> &params) {
  std::vector<double> sums;
  for (const Parameter &param : params) {
    double sum = 0;
    for (float g : param.grad)
      sum += static_cast<double>(g) * g;
    sums.push_back(sum);
  }
  return combineNorms(sums);
}

float rotor::train::clipCoefficient(double total, double maxNorm) {
  if (maxNorm <= 0)
    return 1.0f;
  float coefficient = static_cast<float>(maxNorm) /
                      (static_cast<float>(total) + static_cast<float>(1e-6));
  return coefficient > 1.0f ? 1.0f : coefficient;
}

double rotor::train::clipGradNorm(std::vector<Parameter> &params,
                                  double maxNorm) {
  double total = gradNorm(params);
  float coefficient = clipCoefficient(total, maxNorm);
  // torch multiplies unconditionally; multiplying by 1 changes nothing.
  if (coefficient != 1.0f)
    for (Parameter &param : params)
      for (float &g : param.grad)
        g = g * coefficient;
  return total;
}

bool LossScaler::unscale(std::vector<Parameter> &params) const {
  float inverse = static_cast<float>(1.0 / currentScale);
  bool nonFinite = false;
  for (Parameter &param : params)
    for (float &g : param.grad) {
      g = g * inverse;
      nonFinite |= !std::isfinite(g);
    }
  return nonFinite;
}

// torch keeps the scale in an f32 tensor (and grows it only to a finite
// value); so does this.
void LossScaler::update(bool foundNonFinite) {
  if (foundNonFinite) {
    currentScale = static_cast<float>(currentScale * opts.backoffFactor);
    tracker = 0;
    return;
  }
  if (++tracker == opts.growthInterval) {
    float grown = static_cast<float>(currentScale * opts.growthFactor);
    if (std::isfinite(grown))
      currentScale = grown;
    tracker = 0;
  }
}

double LrSchedule::at(int64_t iteration) const {
  if (iteration < warmupSteps)
    return maxLr * static_cast<double>(iteration + 1) /
           static_cast<double>(warmupSteps);
  if (!cosine)
    return maxLr;
  int64_t span = totalSteps - warmupSteps;
  double progress = static_cast<double>(iteration - warmupSteps) /
                    static_cast<double>(span > 1 ? span : 1);
  if (progress > 1)
    progress = 1;
  return minLr + (maxLr - minLr) * 0.5 * (1 + std::cos(M_PI * progress));
}
