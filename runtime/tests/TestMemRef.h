/*===- TestMemRef.h - Memref descriptors for hand-written artifacts -------===*\
|*                                                                            *|
|* Part of the Rotor project.                                                 *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* The descriptor layouts of docs/artifact-abi.md for ranks 0 to 3, shared    *|
|* by the test artifacts written in C.                                        *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ROTOR_TESTS_TESTMEMREF_H
#define ROTOR_TESTS_TESTMEMREF_H

#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
} MemRef0;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} MemRef1;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MemRef2;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} MemRef3;

#endif /* ROTOR_TESTS_TESTMEMREF_H */
