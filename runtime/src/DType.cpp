//===- DType.cpp - Element type and device helpers ------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "DType.h"
#include "Error.h"

using namespace rotor;

namespace {
struct DTypeInfo {
  rotor_dtype dtype;
  const char *name;
  size_t size;
};

constexpr DTypeInfo dtypeTable[] = {
    {ROTOR_F32, "f32", 4}, {ROTOR_F64, "f64", 8}, {ROTOR_BF16, "bf16", 2},
    {ROTOR_F16, "f16", 2}, {ROTOR_I32, "i32", 4}, {ROTOR_I64, "i64", 8},
};

const DTypeInfo *lookup(rotor_dtype dtype) {
  for (const DTypeInfo &info : dtypeTable)
    if (info.dtype == dtype)
      return &info;
  return nullptr;
}
} // namespace

bool rotor::isValidDType(rotor_dtype dtype) { return lookup(dtype); }

bool rotor::isValidDevice(rotor_device device) {
  return device == ROTOR_DEVICE_CPU || device == ROTOR_DEVICE_CUDA;
}

std::optional<rotor_dtype> rotor::parseDTypeName(std::string_view name) {
  for (const DTypeInfo &info : dtypeTable)
    if (name == info.name)
      return info.dtype;
  return std::nullopt;
}

const char *rotor::dtypeNameList() { return "f32, f64, bf16, f16, i32, i64"; }

extern "C" size_t rotor_dtype_size(rotor_dtype dtype) {
  const DTypeInfo *info = lookup(dtype);
  return info ? info->size : 0;
}

extern "C" const char *rotor_dtype_name(rotor_dtype dtype) {
  const DTypeInfo *info = lookup(dtype);
  return info ? info->name : nullptr;
}

extern "C" rotor_status rotor_dtype_from_name(const char *name,
                                              rotor_dtype *out) {
  if (!name || !out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_dtype_from_name: name and out must not be NULL");
  return guard([&] {
    std::optional<rotor_dtype> dtype = parseDTypeName(name);
    if (!dtype)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "unknown dtype ", quote(name),
                  " (expected one of ", dtypeNameList(), ")");
    *out = *dtype;
    return ROTOR_OK;
  });
}

extern "C" const char *rotor_device_name(rotor_device device) {
  switch (device) {
  case ROTOR_DEVICE_CPU:
    return "cpu";
  case ROTOR_DEVICE_CUDA:
    return "cuda";
  }
  return nullptr;
}

extern "C" rotor_status rotor_device_from_name(const char *name,
                                               rotor_device *out) {
  if (!name || !out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_device_from_name: name and out must not be NULL");
  return guard([&] {
    std::string_view text(name);
    if (text == "cpu") {
      *out = ROTOR_DEVICE_CPU;
      return ROTOR_OK;
    }
    if (text == "cuda") {
      *out = ROTOR_DEVICE_CUDA;
      return ROTOR_OK;
    }
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "unknown device ", quote(name),
                " (expected 'cpu' or 'cuda')");
  });
}
