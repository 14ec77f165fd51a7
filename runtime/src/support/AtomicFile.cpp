//===- AtomicFile.cpp - Write a file atomically ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "AtomicFile.h"
#include "../Error.h"
#include "FileSystem.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace rotor;

namespace {
/// The directory part of `path` ("." if it has none).
std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

/// A name unlikely to collide: pid, a process-wide counter and the clock.
std::string uniqueSuffix() {
  static std::atomic<unsigned long> counter{0};
  auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  return strCat(".tmp.", ::getpid(), ".", counter++, ".",
                static_cast<unsigned long>(ticks) % 1000000007ul);
}
} // namespace

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
  if (!tempPath.empty()) {
    ::unlink(tempPath.c_str());
    tempPath.clear();
  }
}

rotor_status AtomicFileWriter::open(const std::string &destination) {
  discard();
  path = destination;
  if (path.empty() || path.back() == '/')
    return fail(ROTOR_ERR_INVALID_ARGUMENT, quote(path), ": not a file path");
  if (isDirectory(path))
    return fail(ROTOR_ERR_IO, path, ": is a directory");
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string candidate = path + uniqueSuffix();
    fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0666);
    if (fd >= 0) {
      tempPath = candidate;
      return ROTOR_OK;
    }
    if (errno != EEXIST) {
      int err = errno;
      return fail(statusForErrno(err), path,
                  ": cannot create a temporary file in ", parentDirectory(path),
                  ": ", errnoMessage(err));
    }
  }
  return fail(ROTOR_ERR_IO, path, ": cannot create a unique temporary file");
}

rotor_status AtomicFileWriter::write(const void *data, size_t size) {
  if (fd < 0)
    return fail(ROTOR_ERR_IO, path, ": write after a failed open or commit");
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, bytes, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      discard();
      return fail(ROTOR_ERR_IO, path, ": write failed: ", errnoMessage(err));
    }
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return ROTOR_OK;
}

rotor_status AtomicFileWriter::commit() {
  if (fd < 0)
    return fail(ROTOR_ERR_IO, path, ": commit after a failed open or write");
  if (::fsync(fd) != 0) {
    int err = errno;
    discard();
    return fail(ROTOR_ERR_IO, path, ": fsync failed: ", errnoMessage(err));
  }
  if (::close(fd) != 0) {
    int err = errno;
    fd = -1;
    discard();
    return fail(ROTOR_ERR_IO, path, ": close failed: ", errnoMessage(err));
  }
  fd = -1;
  if (::rename(tempPath.c_str(), path.c_str()) != 0) {
    int err = errno;
    discard();
    return fail(ROTOR_ERR_IO, path,
                ": cannot rename the temporary file: ", errnoMessage(err));
  }
  tempPath.clear();
  // Make the rename durable; failure here does not undo the write.
  int dirFd =
      ::open(parentDirectory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return ROTOR_OK;
}
