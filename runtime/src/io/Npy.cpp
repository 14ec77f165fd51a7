//===- Npy.cpp - Reading and writing NumPy .npy files ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The header is a Python dict literal, e.g.
//
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// padded with spaces and ended by '\n'. It is parsed by a small tokenizer
// accepting exactly the three keys NumPy writes; nothing is evaluated.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Npy.h"
#include "../Error.h"
#include "../Tensor.h"
#include "../support/AtomicFile.h"
#include "../support/FileSystem.h"
#include "rotor/Float16.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

using namespace rotor;
using namespace rotor::io;

namespace {

constexpr char magic[] = "\x93NUMPY";
constexpr size_t magicSize = 6;

struct DescrInfo {
  const char *descr;
  rotor_dtype dtype;
};

constexpr DescrInfo descrTable[] = {
    {"<f4", ROTOR_F32}, {"<f8", ROTOR_F64}, {"<f2", ROTOR_F16},
    {"<i4", ROTOR_I32}, {"<i8", ROTOR_I64},
};

/// Formats a shape as a Python tuple: "()", "(3,)", "(2, 3)".
std::string pythonTuple(const std::vector<int64_t> &shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    out += ",";
  return out + ")";
}

/// Tokenizes and parses the header dict.
class HeaderParser {
public:
  HeaderParser(std::string_view text, const std::string &name,
               const NpyReadOptions &options)
      : text(text), name(name), options(options) {}

  rotor_status parse(NpyHeader &out) {
    skipSpace();
    if (!consume('{'))
      return error("expected '{' at the start of the header dict");
    bool haveDescr = false, haveOrder = false, haveShape = false;
    bool fortranOrder = false;
    std::string descr;
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (rotor_status s = parseString(key, "a dict key"))
        return s;
      skipSpace();
      if (!consume(':'))
        return error("expected ':' after key ", quote(key));
      skipSpace();
      if (key == "descr") {
        if (haveDescr)
          return error("duplicate key 'descr'");
        haveDescr = true;
        if (peek() == '[')
          return fail(ROTOR_ERR_UNSUPPORTED, name,
                      ": structured arrays are not supported");
        if (rotor_status s = parseString(descr, "the 'descr' string"))
          return s;
      } else if (key == "fortran_order") {
        if (haveOrder)
          return error("duplicate key 'fortran_order'");
        haveOrder = true;
        if (consumeWord("True"))
          fortranOrder = true;
        else if (consumeWord("False"))
          fortranOrder = false;
        else
          return error("'fortran_order' must be True or False");
      } else if (key == "shape") {
        if (haveShape)
          return error("duplicate key 'shape'");
        haveShape = true;
        if (rotor_status s = parseShape(out.shape))
          return s;
      } else {
        return error("unexpected key ", quote(key),
                     " (expected 'descr', 'fortran_order' and 'shape')");
      }
      skipSpace();
      if (consume(','))
        continue;
      if (consume('}'))
        break;
      return error("expected ',' or '}' in the header dict");
    }
    skipSpace();
    if (pos != text.size())
      return error("unexpected text after the header dict");
    if (!haveDescr || !haveOrder || !haveShape)
      return error("missing key '",
                   !haveDescr   ? "descr"
                   : !haveOrder ? "fortran_order"
                                : "shape",
                   "'");
    if (rotor_status s = mapDescr(descr, out.dtype))
      return s;
    if (fortranOrder) {
      // Fortran order only differs from C order with two or more dimensions
      // of size > 1.
      int nontrivial = 0;
      for (int64_t dim : out.shape)
        nontrivial += dim > 1;
      if (nontrivial > 1)
        return fail(ROTOR_ERR_UNSUPPORTED, name,
                    ": the array is stored in Fortran order "
                    "(fortran_order: True); only C order is supported (save "
                    "np.ascontiguousarray(a) instead)");
    }
    return ROTOR_OK;
  }

private:
  std::string_view text;
  const std::string &name;
  const NpyReadOptions &options;
  size_t pos = 0;

  template <typename... Ts> rotor_status error(const Ts &...parts) {
    return fail(ROTOR_ERR_FORMAT, name, ": invalid .npy header: ", parts...);
  }

  char peek() const { return pos < text.size() ? text[pos] : '\0'; }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(char c) {
    if (peek() != c || pos >= text.size())
      return false;
    ++pos;
    return true;
  }

  bool consumeWord(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return false;
    size_t end = pos + word.size();
    if (end < text.size() &&
        (std::isalnum(static_cast<unsigned char>(text[end])) ||
         text[end] == '_'))
      return false;
    pos = end;
    return true;
  }

  rotor_status parseString(std::string &out, const char *what) {
    char quoteChar = peek();
    if (quoteChar != '\'' && quoteChar != '"')
      return error("expected ", what);
    ++pos;
    size_t start = pos;
    while (pos < text.size() && text[pos] != quoteChar) {
      if (text[pos] == '\\')
        return error("escape sequences are not supported in ", what);
      ++pos;
    }
    if (pos >= text.size())
      return error("unterminated string");
    out.assign(text.substr(start, pos - start));
    ++pos;
    return ROTOR_OK;
  }

  rotor_status parseShape(std::vector<int64_t> &shape) {
    if (!consume('('))
      return error("'shape' must be a tuple");
    while (true) {
      skipSpace();
      if (consume(')'))
        return ROTOR_OK;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        return error("'shape' must hold non-negative integers");
      int64_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        int digit = text[pos++] - '0';
        if (value > (INT64_MAX - digit) / 10)
          return error("dimension too large in 'shape'");
        value = value * 10 + digit;
      }
      if (peek() == 'L') // Written by Python 2.
        ++pos;
      if (shape.size() == ROTOR_MAX_RANK)
        return fail(ROTOR_ERR_UNSUPPORTED, name, ": rank exceeds the maximum ",
                    "rank ", ROTOR_MAX_RANK);
      shape.push_back(value);
      skipSpace();
      if (consume(','))
        continue;
      if (consume(')'))
        return ROTOR_OK;
      return error("expected ',' or ')' in 'shape'");
    }
  }

  rotor_status mapDescr(const std::string &descr, rotor_dtype &dtype) {
    for (const DescrInfo &info : descrTable) {
      if (descr == info.descr) {
        dtype = info.dtype;
        return ROTOR_OK;
      }
    }
    if (descr == "<u2") {
      if (options.u2AsBF16) {
        dtype = ROTOR_BF16;
        return ROTOR_OK;
      }
      return fail(ROTOR_ERR_UNSUPPORTED, name,
                  ": '<u2' (uint16) arrays are only read as bf16 bit "
                  "patterns, and only when that is requested");
    }
    if (!descr.empty() && descr[0] == '>')
      return fail(ROTOR_ERR_UNSUPPORTED, name, ": big-endian dtype ",
                  quote(descr), " is not supported; convert with a.astype('<",
                  descr.substr(1), "')");
    return fail(ROTOR_ERR_UNSUPPORTED, name, ": dtype ", quote(descr),
                " is not supported (supported: '<f4', '<f8', '<f2', '<i4', "
                "'<i8')");
  }
};

uint32_t readLE(const unsigned char *p, size_t bytes) {
  uint32_t value = 0;
  for (size_t i = bytes; i-- > 0;)
    value = (value << 8) | p[i];
  return value;
}

/// Checks that a file of `fileSize` bytes holds exactly the header's data.
rotor_status checkDataSize(const NpyHeader &header, uint64_t fileSize,
                           const std::string &name) {
  uint64_t available =
      fileSize >= header.dataOffset ? fileSize - header.dataOffset : 0;
  if (available < header.dataBytes)
    return fail(ROTOR_ERR_FORMAT, name, ": truncated: the header declares a ",
                rotor_dtype_name(header.dtype), " array of shape ",
                pythonTuple(header.shape), " (", header.dataBytes,
                " bytes of data) but only ", available,
                " bytes follow the header");
  if (available > header.dataBytes)
    return fail(ROTOR_ERR_FORMAT, name, ": ", available - header.dataBytes,
                " unexpected bytes after the array data");
  return ROTOR_OK;
}

/// The .npy 1.0 header (magic to '\n') for `dtype` and `shape`.
std::string makeHeader(const char *descr, const std::vector<int64_t> &shape) {
  std::string dict =
      strCat("{'descr': '", descr,
             "', 'fortran_order': False, 'shape': ", pythonTuple(shape), ", }");
  // Pad so that magic (6) + version (2) + length (2) + dict + '\n' is a
  // multiple of 64, as NumPy does; the data then starts aligned.
  size_t total = magicSize + 4 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out(magic, magicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

/// The header for `tensor` and how its data is stored.
struct EncodePlan {
  std::string header;
  bool widenBF16 = false;
};

rotor_status planEncoding(const std::string &name, const rotor_tensor *tensor,
                          const NpyWriteOptions &options, EncodePlan &plan) {
  if (!tensor)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": tensor is NULL");
  const char *descr = nullptr;
  for (const DescrInfo &info : descrTable)
    if (info.dtype == tensor->dtype)
      descr = info.descr;
  if (tensor->dtype == ROTOR_BF16) {
    plan.widenBF16 = !options.bf16AsU2;
    descr = options.bf16AsU2 ? "<u2" : "<f4";
  }
  if (!descr)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": invalid dtype value ",
                static_cast<int>(tensor->dtype));
  std::vector<int64_t> shape = tensorShape(tensor);
  if (tensor->nbytes > 0 && !tensor->data)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": tensor data is NULL");
  plan.header = makeHeader(descr, shape);
  if (plan.header.size() > 65535 + 10)
    return fail(ROTOR_ERR_UNSUPPORTED, name,
                ": the header is too long for .npy version 1.0");
  return ROTOR_OK;
}

/// Calls `sink(data, size)` on the encoded data of `tensor` in chunks.
template <typename Sink>
rotor_status emitData(const rotor_tensor *tensor, bool widenBF16, Sink sink) {
  if (!widenBF16)
    return sink(tensor->data, tensor->nbytes);
  const uint16_t *source = static_cast<const uint16_t *>(tensor->data);
  constexpr size_t chunk = 4096;
  float buffer[chunk];
  for (int64_t done = 0; done < tensor->numel;) {
    size_t n =
        static_cast<size_t>(std::min<int64_t>(chunk, tensor->numel - done));
    for (size_t i = 0; i < n; ++i) {
      uint16_t bits;
      std::memcpy(&bits, source + done + static_cast<int64_t>(i), sizeof(bits));
      buffer[i] = bf16ToFloat(bits);
    }
    if (rotor_status s = sink(buffer, n * sizeof(float)))
      return s;
    done += static_cast<int64_t>(n);
  }
  return ROTOR_OK;
}

} // namespace

rotor_status io::parseNpyHeader(const void *data, size_t size,
                                const std::string &name,
                                const NpyReadOptions &options, NpyHeader &out) {
  return guard([&]() -> rotor_status {
    const unsigned char *bytes = static_cast<const unsigned char *>(data);
    if (size < magicSize + 2 || std::memcmp(bytes, magic, magicSize) != 0)
      return fail(ROTOR_ERR_FORMAT, name,
                  ": not a .npy file (it does not start with \\x93NUMPY)");
    unsigned major = bytes[6], minor = bytes[7];
    size_t lengthBytes;
    if (major == 1 && minor == 0)
      lengthBytes = 2;
    else if (major == 2 && minor == 0)
      lengthBytes = 4;
    else
      return fail(ROTOR_ERR_UNSUPPORTED, name, ": .npy format version ", major,
                  ".", minor, " is not supported (supports 1.0 and 2.0)");
    size_t start = magicSize + 2 + lengthBytes;
    if (size < start)
      return fail(ROTOR_ERR_FORMAT, name,
                  ": truncated: the file ends inside the .npy preamble");
    uint64_t headerLength = readLE(bytes + magicSize + 2, lengthBytes);
    if (headerLength > maxNpyHeaderBytes)
      return fail(ROTOR_ERR_FORMAT, name, ": header length ", headerLength,
                  " exceeds the limit of ", maxNpyHeaderBytes, " bytes");
    if (headerLength > size - start)
      return fail(ROTOR_ERR_FORMAT, name, ": header length ", headerLength,
                  " runs past the end of the file (", size - start,
                  " bytes follow the preamble)");
    NpyHeader header;
    std::string_view text(reinterpret_cast<const char *>(bytes + start),
                          headerLength);
    if (rotor_status s = HeaderParser(text, name, options).parse(header))
      return s;
    int64_t numel;
    size_t nbytes;
    if (checkTensorShape(name, header.dtype, header.shape.size(),
                         header.shape.data(), numel, nbytes) != ROTOR_OK)
      return fail(ROTOR_ERR_FORMAT, rotor_last_error());
    header.dataOffset = start + headerLength;
    header.dataBytes = nbytes;
    out = std::move(header);
    return ROTOR_OK;
  });
}

rotor_status io::readNpyFromMemory(const void *data, size_t size,
                                   const std::string &name, TensorPtr &out,
                                   const NpyReadOptions &options) {
  return guard([&] {
    NpyHeader header;
    if (rotor_status s = parseNpyHeader(data, size, name, options, header))
      return s;
    if (rotor_status s = checkDataSize(header, size, name))
      return s;
    TensorPtr tensor;
    if (rotor_status s = createTensor(header.dtype, header.shape, tensor))
      return s;
    std::memcpy(tensor->data,
                static_cast<const char *>(data) + header.dataOffset,
                header.dataBytes);
    out = std::move(tensor);
    return ROTOR_OK;
  });
}

rotor_status io::readNpy(const std::string &path, TensorPtr &out,
                         const NpyReadOptions &options) {
  return guard([&] {
    ScopedFd file;
    uint64_t fileSize = 0;
    if (rotor_status s = openRegularFile(path, file, fileSize))
      return s;
    int fd = file.get();

    auto readAt = [&](void *buffer, size_t count, uint64_t offset) {
      char *dest = static_cast<char *>(buffer);
      size_t done = 0;
      while (done < count) {
        ssize_t n = ::pread(fd, dest + done, count - done,
                            static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0) {
          int err = errno;
          return fail(ROTOR_ERR_IO, path, ": read failed: ", errnoMessage(err));
        }
        if (n == 0)
          return fail(ROTOR_ERR_FORMAT, path,
                      ": truncated: the file shrank while being read");
        done += static_cast<size_t>(n);
      }
      return ROTOR_OK;
    };

    // The header lies within the first 12 + maxNpyHeaderBytes bytes.
    std::string prefix(static_cast<size_t>(std::min<uint64_t>(
                           fileSize, 12 + maxNpyHeaderBytes)),
                       '\0');
    if (rotor_status s = readAt(prefix.data(), prefix.size(), 0))
      return s;
    NpyHeader header;
    if (rotor_status s =
            parseNpyHeader(prefix.data(), prefix.size(), path, options, header))
      return s;
    if (rotor_status s = checkDataSize(header, fileSize, path))
      return s;
    TensorPtr tensor;
    if (rotor_status s = createTensor(header.dtype, header.shape, tensor))
      return fail(s, path, ": ", rotor_last_error());
    if (rotor_status s =
            readAt(tensor->data, header.dataBytes, header.dataOffset))
      return s;
    out = std::move(tensor);
    return ROTOR_OK;
  });
}

rotor_status io::encodeNpy(const rotor_tensor *tensor, std::string &out,
                           const NpyWriteOptions &options) {
  return guard([&] {
    EncodePlan plan;
    if (rotor_status s = planEncoding("npy", tensor, options, plan))
      return s;
    std::string image = plan.header;
    if (rotor_status s =
            emitData(tensor, plan.widenBF16, [&](const void *data, size_t n) {
              image.append(static_cast<const char *>(data), n);
              return ROTOR_OK;
            }))
      return s;
    out = std::move(image);
    return ROTOR_OK;
  });
}

rotor_status io::writeNpy(const std::string &path, const rotor_tensor *tensor,
                          const NpyWriteOptions &options) {
  return guard([&] {
    EncodePlan plan;
    if (rotor_status s = planEncoding(path, tensor, options, plan))
      return s;
    AtomicFileWriter file;
    if (rotor_status s = file.open(path))
      return s;
    if (rotor_status s = file.write(plan.header.data(), plan.header.size()))
      return s;
    if (rotor_status s =
            emitData(tensor, plan.widenBF16, [&](const void *data, size_t n) {
              return file.write(data, n);
            }))
      return s;
    return file.commit();
  });
}
