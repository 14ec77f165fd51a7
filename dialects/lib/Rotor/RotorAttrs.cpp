//===- RotorAttrs.cpp - Attributes of the rotor dialect ----------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Dialect/Rotor/RotorDiagnostics.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::rotor;

#include "rotor/Dialect/Rotor/RotorEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "rotor/Dialect/Rotor/RotorAttrs.cpp.inc"

void RotorDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "rotor/Dialect/Rotor/RotorAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// RopeScalingAttr
//===----------------------------------------------------------------------===//

LogicalResult
RopeScalingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        RopeScalingKind kind, APFloat factorF,
                        int64_t originalMaxPosition, APFloat betaFastF,
                        APFloat betaSlowF, APFloat lowFreqFactorF,
                        APFloat highFreqFactorF, APFloat attentionFactorF) {
  double factor = factorF.convertToDouble();
  double betaFast = betaFastF.convertToDouble();
  double betaSlow = betaSlowF.convertToDouble();
  double lowFreqFactor = lowFreqFactorF.convertToDouble();
  double highFreqFactor = highFreqFactorF.convertToDouble();
  double attentionFactor = attentionFactorF.convertToDouble();
  auto finite = [&](double v, StringRef name) -> LogicalResult {
    if (!std::isfinite(v))
      return emitError() << "rope scaling " << name << " must be finite, got "
                         << formatNumber(v);
    return success();
  };
  if (failed(finite(factor, "factor")) || failed(finite(betaFast, "beta_fast")) ||
      failed(finite(betaSlow, "beta_slow")) ||
      failed(finite(lowFreqFactor, "low_freq_factor")) ||
      failed(finite(highFreqFactor, "high_freq_factor")) ||
      failed(finite(attentionFactor, "attention_factor")))
    return failure();
  if (kind == RopeScalingKind::none)
    return success();
  if (factor < 1.0)
    return emitError() << "rope scaling factor must be >= 1, got "
                       << formatNumber(factor);
  if (originalMaxPosition < 0)
    return emitError() << "original_max_position must be >= 0, got "
                       << originalMaxPosition;
  bool needsOriginal = kind == RopeScalingKind::dynamic_ntk ||
                       kind == RopeScalingKind::yarn ||
                       kind == RopeScalingKind::llama3;
  if (needsOriginal && originalMaxPosition <= 0)
    return emitError() << stringifyRopeScalingKind(kind)
                       << " rope scaling needs original_max_position > 0";
  if (kind == RopeScalingKind::yarn && !(betaFast > betaSlow && betaSlow > 0))
    return emitError() << "yarn rope scaling needs beta_fast > beta_slow > 0, "
                          "got beta_fast = "
                       << formatNumber(betaFast)
                       << " and beta_slow = " << formatNumber(betaSlow);
  if (kind == RopeScalingKind::llama3 &&
      !(highFreqFactor > lowFreqFactor && lowFreqFactor > 0))
    return emitError() << "llama3 rope scaling needs high_freq_factor > "
                          "low_freq_factor > 0, got high_freq_factor = "
                       << formatNumber(highFreqFactor)
                       << " and low_freq_factor = "
                       << formatNumber(lowFreqFactor);
  if (attentionFactor < 0)
    return emitError() << "attention_factor must be >= 0 (0 selects the "
                          "default), got "
                       << formatNumber(attentionFactor);
  return success();
}

double RopeScalingAttr::getEffectiveAttentionFactor() const {
  if (getKind() != RopeScalingKind::yarn)
    return 1.0;
  if (double a = getAttentionFactor().convertToDouble(); a > 0)
    return a;
  double factor = getFactor().convertToDouble();
  return factor <= 1.0 ? 1.0 : 0.1 * std::log(factor) + 1.0;
}

//===----------------------------------------------------------------------===//
// MaskAttr
//===----------------------------------------------------------------------===//

LogicalResult MaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               bool causal, std::optional<int64_t> windowLeft,
                               std::optional<int64_t> windowRight,
                               int64_t dilation, std::optional<int64_t> chunk,
                               int64_t global) {
  if (windowLeft && *windowLeft < 0)
    return emitError() << "mask window_left must be >= 0, got " << *windowLeft;
  if (windowRight && *windowRight < 0)
    return emitError() << "mask window_right must be >= 0, got "
                       << *windowRight;
  if (causal && windowRight && *windowRight != 0)
    return emitError() << "a causal mask sees no key to the right, but "
                          "window_right = "
                       << *windowRight;
  if (dilation < 1)
    return emitError() << "mask dilation must be >= 1, got " << dilation;
  if (chunk && *chunk < 1)
    return emitError() << "mask chunk must be >= 1, got " << *chunk;
  if (global < 0)
    return emitError() << "mask global must be >= 0, got " << global;
  return success();
}

bool MaskAttr::isFull() const {
  return !getCausal() && !getWindowLeft() && !getWindowRight() &&
         getDilation() == 1 && !getChunk();
}

bool MaskAttr::isVisible(int64_t qpos, int64_t kpos) const {
  if (getCausal() && kpos > qpos)
    return false;
  if (kpos < getGlobal() || (qpos >= 0 && qpos < getGlobal()))
    return true;
  int64_t d = qpos - kpos;
  int64_t n = getDilation();
  if (d % n != 0)
    return false;
  if (auto left = getWindowLeft(); left && d / n > *left)
    return false;
  if (auto right = getWindowRight(); right && -d / n > *right)
    return false;
  auto floorDiv = [](int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
  };
  if (auto chunk = getChunk();
      chunk && floorDiv(qpos, *chunk) != floorDiv(kpos, *chunk))
    return false;
  return true;
}
