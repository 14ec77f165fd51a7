//===- MappedFile.cpp - Read-only memory-mapped files ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "MappedFile.h"
#include "../Error.h"
#include "FileSystem.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace rotor;

MappedFile::~MappedFile() {
  if (bytes)
    ::munmap(const_cast<unsigned char *>(bytes), length);
}

rotor_status MappedFile::open(const std::string &path,
                              std::unique_ptr<MappedFile> &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(statusForErrno(err), path,
                ": cannot open: ", errnoMessage(err));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    return fail(ROTOR_ERR_IO, path, ": cannot stat: ", errnoMessage(err));
  }
  if (!S_ISREG(st.st_mode))
    return fail(ROTOR_ERR_IO, path, ": not a regular file");
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->length = static_cast<size_t>(st.st_size);
  if (file->length != 0) {
    void *map = ::mmap(nullptr, file->length, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      file->length = 0;
      return fail(ROTOR_ERR_IO, path, ": cannot map: ", errnoMessage(err));
    }
    file->bytes = static_cast<const unsigned char *>(map);
  }
  out = std::move(file);
  return ROTOR_OK;
}
