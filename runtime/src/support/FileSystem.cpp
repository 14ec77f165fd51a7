//===- FileSystem.cpp - Small POSIX file helpers --------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "FileSystem.h"
#include "../Error.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

using namespace rotor;

std::string rotor::errnoMessage(int errnum) {
  return std::error_code(errnum, std::generic_category()).message();
}

rotor_status rotor::statusForErrno(int errnum) {
  return errnum == ENOENT || errnum == ENOTDIR ? ROTOR_ERR_NOT_FOUND
                                               : ROTOR_ERR_IO;
}

std::string rotor::joinPath(const std::string &dir, const std::string &name) {
  if (dir.empty())
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

bool rotor::isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool rotor::isRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

rotor::ScopedFd::~ScopedFd() {
  if (fd >= 0)
    ::close(fd);
}

rotor_status rotor::openRegularFile(const std::string &path, ScopedFd &file,
                                    uint64_t &size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(statusForErrno(err), path,
                ": cannot open: ", errnoMessage(err));
  }
  file.fd = fd;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    return fail(ROTOR_ERR_IO, path, ": cannot stat: ", errnoMessage(err));
  }
  if (!S_ISREG(st.st_mode))
    return fail(ROTOR_ERR_IO, path, ": not a regular file");
  size = static_cast<uint64_t>(st.st_size);
  return ROTOR_OK;
}

rotor_status rotor::readFile(const std::string &path, size_t maxSize,
                             const char *what, std::string &out) {
  ScopedFd file;
  uint64_t size = 0;
  if (rotor_status s = openRegularFile(path, file, size))
    return s;
  int fd = file.get();
  if (size > maxSize)
    return fail(ROTOR_ERR_FORMAT, path, ": the ", what, " is ", size,
                " bytes, more than the limit of ", maxSize, " bytes");
  out.assign(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, &out[done], out.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      return fail(ROTOR_ERR_IO, path, ": read failed: ", errnoMessage(err));
    }
    if (n == 0)
      break; // The file shrank while reading.
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return ROTOR_OK;
}
