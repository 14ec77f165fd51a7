//===- Tensor.cpp - The rotor_tensor object -------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"
#include "DType.h"
#include "Error.h"

#include <cstdlib>
#include <cstring>
#include <unistd.h>

using namespace rotor;

rotor_status rotor::checkTensorShape(const std::string &what, rotor_dtype dtype,
                                     size_t rank, const int64_t *shape,
                                     int64_t &numel, size_t &nbytes) {
  if (!isValidDType(dtype))
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, ": invalid dtype value ",
                static_cast<int>(dtype));
  if (rank > ROTOR_MAX_RANK)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, ": rank ", rank,
                " exceeds the maximum rank ", ROTOR_MAX_RANK);
  if (rank > 0 && !shape)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what,
                ": shape is NULL but rank is ", rank);
  uint64_t count = 1;
  bool overflow = false;
  for (size_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, ": dimension ", i,
                  " has negative size ", shape[i]);
    uint64_t next;
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(shape[i]), &next))
      overflow = true;
    count = next;
  }
  uint64_t bytes = 0;
  if (overflow ||
      __builtin_mul_overflow(count, uint64_t(rotor_dtype_size(dtype)),
                             &bytes) ||
      bytes > maxTensorBytes) {
    std::vector<int64_t> dims(shape, shape + rank);
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, ": a ",
                rotor_dtype_name(dtype), " tensor of shape ",
                formatShapeList(dims), " is too large");
  }
  numel = static_cast<int64_t>(count);
  nbytes = static_cast<size_t>(bytes);
  return ROTOR_OK;
}

namespace {
/// Allocates the tensor object and fills in dtype and shape.
rotor_status makeTensor(rotor_dtype dtype, size_t rank, const int64_t *shape,
                        TensorPtr &out) {
  int64_t numel;
  size_t nbytes;
  if (rotor_status s =
          checkTensorShape("tensor", dtype, rank, shape, numel, nbytes))
    return s;
  auto tensor = std::make_unique<rotor_tensor>();
  tensor->dtype = dtype;
  tensor->rank = rank;
  for (size_t i = 0; i < rank; ++i)
    tensor->shape[i] = shape[i];
  tensor->numel = numel;
  tensor->nbytes = nbytes;
  out.reset(tensor.release());
  return ROTOR_OK;
}

rotor_status createImpl(rotor_dtype dtype, size_t rank, const int64_t *shape,
                        TensorPtr &out) {
  TensorPtr tensor;
  if (rotor_status s = makeTensor(dtype, rank, shape, tensor))
    return s;
  // Round up to the alignment (aligned_alloc requires it) and never allocate
  // zero bytes, so that data is a valid pointer even for empty tensors.
  size_t size = (tensor->nbytes + tensorAlignment - 1) / tensorAlignment *
                tensorAlignment;
  if (size == 0)
    size = tensorAlignment;
  // Zeroing touches every page: a request beyond the machine's memory would
  // get the process killed where the kernel overcommits, not fail cleanly.
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0 && size / size_t(pageSize) > size_t(pages))
    return fail(ROTOR_ERR_OUT_OF_MEMORY, "cannot allocate ", tensor->nbytes,
                " bytes for a ", rotor_dtype_name(dtype), " tensor of shape ",
                formatShapeList(tensorShape(tensor.get())),
                ": more than this machine's memory (",
                size_t(pages) * size_t(pageSize), " bytes)");
  void *data = std::aligned_alloc(tensorAlignment, size);
  if (!data)
    return fail(ROTOR_ERR_OUT_OF_MEMORY, "cannot allocate ", tensor->nbytes,
                " bytes for a ", rotor_dtype_name(dtype), " tensor of shape ",
                formatShapeList(tensorShape(tensor.get())));
  std::memset(data, 0, size);
  tensor->data = data;
  tensor->owned = true;
  out = std::move(tensor);
  return ROTOR_OK;
}

rotor_status wrapImpl(rotor_dtype dtype, size_t rank, const int64_t *shape,
                      void *data, TensorPtr &out) {
  TensorPtr tensor;
  if (rotor_status s = makeTensor(dtype, rank, shape, tensor))
    return s;
  if (!data && tensor->nbytes != 0)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "tensor: data is NULL but the tensor has ", tensor->numel,
                " elements");
  tensor->data = data;
  tensor->owned = false;
  out = std::move(tensor);
  return ROTOR_OK;
}
} // namespace

rotor_status rotor::createTensor(rotor_dtype dtype,
                                 const std::vector<int64_t> &shape,
                                 TensorPtr &out) {
  return createImpl(dtype, shape.size(), shape.data(), out);
}

rotor_status rotor::wrapTensor(rotor_dtype dtype,
                               const std::vector<int64_t> &shape, void *data,
                               TensorPtr &out) {
  return wrapImpl(dtype, shape.size(), shape.data(), data, out);
}

extern "C" rotor_status rotor_tensor_create(rotor_dtype dtype, size_t rank,
                                            const int64_t *shape,
                                            rotor_tensor **out) {
  if (!out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_tensor_create: out must not be NULL");
  *out = nullptr;
  return guard([&] {
    TensorPtr tensor;
    if (rotor_status s = createImpl(dtype, rank, shape, tensor))
      return s;
    *out = tensor.release();
    return ROTOR_OK;
  });
}

extern "C" rotor_status rotor_tensor_wrap(rotor_dtype dtype, size_t rank,
                                          const int64_t *shape, void *data,
                                          rotor_tensor **out) {
  if (!out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_tensor_wrap: out must not be NULL");
  *out = nullptr;
  return guard([&] {
    TensorPtr tensor;
    if (rotor_status s = wrapImpl(dtype, rank, shape, data, tensor))
      return s;
    *out = tensor.release();
    return ROTOR_OK;
  });
}

extern "C" void rotor_tensor_free(rotor_tensor *tensor) {
  if (!tensor)
    return;
  if (tensor->owned)
    std::free(tensor->data);
  delete tensor;
}

extern "C" rotor_dtype rotor_tensor_dtype(const rotor_tensor *tensor) {
  return tensor ? tensor->dtype : ROTOR_F32;
}

extern "C" size_t rotor_tensor_rank(const rotor_tensor *tensor) {
  return tensor ? tensor->rank : 0;
}

extern "C" const int64_t *rotor_tensor_shape(const rotor_tensor *tensor) {
  return tensor ? tensor->shape : nullptr;
}

extern "C" int64_t rotor_tensor_numel(const rotor_tensor *tensor) {
  return tensor ? tensor->numel : 0;
}

extern "C" size_t rotor_tensor_nbytes(const rotor_tensor *tensor) {
  return tensor ? tensor->nbytes : 0;
}

extern "C" void *rotor_tensor_data(const rotor_tensor *tensor) {
  return tensor ? tensor->data : nullptr;
}

extern "C" int rotor_tensor_owns_data(const rotor_tensor *tensor) {
  return tensor && tensor->owned ? 1 : 0;
}
