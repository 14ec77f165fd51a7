//===- FileSystem.h - Small POSIX file helpers ------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_SUPPORT_FILESYSTEM_H
#define ROTOR_SRC_SUPPORT_FILESYSTEM_H

#include "rotor/runtime.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace rotor {

/// The text of `errnum` (thread-safe strerror).
std::string errnoMessage(int errnum);

/// ROTOR_ERR_NOT_FOUND for ENOENT/ENOTDIR, ROTOR_ERR_IO otherwise.
rotor_status statusForErrno(int errnum);

/// `dir` + "/" + `name` (no separator added after a trailing '/').
std::string joinPath(const std::string &dir, const std::string &name);

/// True if `path` names a directory (following symlinks).
bool isDirectory(const std::string &path);

/// True if `path` names a regular file (following symlinks).
bool isRegularFile(const std::string &path);

/// A file descriptor closed when it goes out of scope.
class ScopedFd {
public:
  ScopedFd() = default;
  ScopedFd(const ScopedFd &) = delete;
  ScopedFd &operator=(const ScopedFd &) = delete;
  ~ScopedFd();
  int get() const { return fd; }

private:
  friend rotor_status openRegularFile(const std::string &, ScopedFd &,
                                      uint64_t &);
  int fd = -1;
};

/// Opens `path` for reading, checking that it is a regular file; `size`
/// receives its size. The error names the path and the failing step.
rotor_status openRegularFile(const std::string &path, ScopedFd &fd,
                             uint64_t &size);

/// Reads the regular file `path` into `out`. Files larger than `maxSize`
/// bytes are rejected with ROTOR_ERR_FORMAT; `what` describes the file in
/// that message ("manifest").
rotor_status readFile(const std::string &path, size_t maxSize, const char *what,
                      std::string &out);

} // namespace rotor

#endif // ROTOR_SRC_SUPPORT_FILESYSTEM_H
