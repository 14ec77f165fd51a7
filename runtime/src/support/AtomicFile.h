//===- AtomicFile.h - Write a file atomically -------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Writes go to a temporary file in the destination's directory; commit()
// fsyncs it, renames it over the destination and fsyncs the directory.
// Readers see either the old file or the complete new one. A writer that is
// destroyed without a successful commit() removes its temporary file.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_SUPPORT_ATOMICFILE_H
#define ROTOR_SRC_SUPPORT_ATOMICFILE_H

#include "rotor/runtime.h"

#include <cstddef>
#include <string>

namespace rotor {

class AtomicFileWriter {
public:
  AtomicFileWriter() = default;
  AtomicFileWriter(const AtomicFileWriter &) = delete;
  AtomicFileWriter &operator=(const AtomicFileWriter &) = delete;
  ~AtomicFileWriter();

  /// Creates the temporary file for destination `path`.
  rotor_status open(const std::string &path);

  /// Appends `size` bytes.
  rotor_status write(const void *data, size_t size);

  /// Flushes, fsyncs and renames the temporary file to the destination.
  rotor_status commit();

private:
  void discard();

  std::string path;
  std::string tempPath;
  int fd = -1;
};

} // namespace rotor

#endif // ROTOR_SRC_SUPPORT_ATOMICFILE_H
