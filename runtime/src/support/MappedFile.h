//===- MappedFile.h - Read-only memory-mapped files -------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_SUPPORT_MAPPEDFILE_H
#define ROTOR_SRC_SUPPORT_MAPPEDFILE_H

#include "rotor/runtime.h"

#include <cstddef>
#include <memory>
#include <string>

namespace rotor {

/// A regular file mapped read-only (MAP_PRIVATE) into memory. An empty file
/// has size 0 and a null data pointer.
class MappedFile {
public:
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile();

  /// Maps `path`.
  static rotor_status open(const std::string &path,
                           std::unique_ptr<MappedFile> &out);

  const unsigned char *data() const { return bytes; }
  size_t size() const { return length; }

private:
  MappedFile() = default;
  const unsigned char *bytes = nullptr;
  size_t length = 0;
};

} // namespace rotor

#endif // ROTOR_SRC_SUPPORT_MAPPEDFILE_H
