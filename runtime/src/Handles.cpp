//===- Handles.cpp - Helpers for C++ users of the runtime -----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Handles.h"

#include <string>

std::vector<int64_t> rotor::tensorShape(const rotor_tensor *tensor) {
  const int64_t *shape = rotor_tensor_shape(tensor);
  return std::vector<int64_t>(shape, shape + rotor_tensor_rank(tensor));
}

std::string rotor::formatShape(const std::vector<int64_t> &shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += 'x';
    out += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return out;
}

std::string rotor::formatShapeList(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return out + "]";
}
