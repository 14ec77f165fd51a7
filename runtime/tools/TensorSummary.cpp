//===- TensorSummary.cpp - Human-readable tensor summaries ----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "TensorSummary.h"
#include "rotor/Float16.h"
#include "rotor/Handles.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

using namespace rotor;
using namespace rotor::tool;

namespace {
/// How many leading values the summary shows.
constexpr int64_t shownValues = 8;

template <typename T> T load(const rotor_tensor *tensor, int64_t index) {
  T value;
  std::memcpy(&value,
              static_cast<const char *>(rotor_tensor_data(tensor)) +
                  index * static_cast<int64_t>(sizeof(T)),
              sizeof(T));
  return value;
}

std::string formatNumber(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  return buf;
}
} // namespace

double rotor::tool::elementAsDouble(const rotor_tensor *tensor, int64_t index) {
  switch (rotor_tensor_dtype(tensor)) {
  case ROTOR_F32:
    return load<float>(tensor, index);
  case ROTOR_F64:
    return load<double>(tensor, index);
  case ROTOR_BF16:
    return bf16ToFloat(load<uint16_t>(tensor, index));
  case ROTOR_F16:
    return halfToFloat(load<uint16_t>(tensor, index));
  case ROTOR_I32:
    return load<int32_t>(tensor, index);
  case ROTOR_I64:
    return static_cast<double>(load<int64_t>(tensor, index));
  }
  return 0;
}

void rotor::tool::printSummary(std::ostream &os, const std::string &name,
                               const rotor_tensor *tensor) {
  int64_t numel = rotor_tensor_numel(tensor);
  os << name << ": " << rotor_dtype_name(rotor_tensor_dtype(tensor)) << "["
     << formatShape(tensorShape(tensor)) << "]";
  if (numel == 0) {
    os << " (no elements)\n";
    return;
  }
  double min = std::numeric_limits<double>::infinity();
  double max = -min;
  double sum = 0;
  int64_t nans = 0;
  for (int64_t i = 0; i < numel; ++i) {
    double value = elementAsDouble(tensor, i);
    if (std::isnan(value)) {
      ++nans;
      continue;
    }
    min = std::min(min, value);
    max = std::max(max, value);
    sum += value;
  }
  if (nans < numel)
    os << " min=" << formatNumber(min) << " max=" << formatNumber(max)
       << " mean=" << formatNumber(sum / static_cast<double>(numel - nans));
  if (nans > 0)
    os << " nan=" << nans;
  os << "\n  [";
  int64_t shown = std::min(numel, shownValues);
  for (int64_t i = 0; i < shown; ++i)
    os << (i ? ", " : "") << formatNumber(elementAsDouble(tensor, i));
  if (shown < numel)
    os << ", ...] (first " << shown << " of " << numel << ")\n";
  else
    os << "]\n";
}
