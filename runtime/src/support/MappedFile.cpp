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
  ScopedFd fd;
  uint64_t size = 0;
  if (rotor_status s = openRegularFile(path, fd, size))
    return s;
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->length = static_cast<size_t>(size);
  if (file->length != 0) {
    void *map =
        ::mmap(nullptr, file->length, PROT_READ, MAP_PRIVATE, fd.get(), 0);
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
