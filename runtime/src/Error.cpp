//===- Error.cpp - Thread-local error reporting ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Error.h"

#include <cstdio>

namespace {
/// The message of the last failed call on this thread.
thread_local std::string lastError;
} // namespace

void rotor::setLastError(std::string message) {
  lastError = std::move(message);
}

std::string rotor::quote(const std::string &text) {
  constexpr size_t maxShown = 120;
  std::string out = "'";
  size_t shown = 0;
  for (unsigned char c : text) {
    if (shown++ == maxShown) {
      out += "...";
      break;
    }
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  return out;
}

extern "C" const char *rotor_last_error(void) { return lastError.c_str(); }

extern "C" void rotor_clear_error(void) { lastError.clear(); }

extern "C" const char *rotor_status_name(rotor_status status) {
  switch (status) {
  case ROTOR_OK:
    return "ROTOR_OK";
  case ROTOR_ERR_IO:
    return "ROTOR_ERR_IO";
  case ROTOR_ERR_FORMAT:
    return "ROTOR_ERR_FORMAT";
  case ROTOR_ERR_INVALID_ARGUMENT:
    return "ROTOR_ERR_INVALID_ARGUMENT";
  case ROTOR_ERR_NOT_FOUND:
    return "ROTOR_ERR_NOT_FOUND";
  case ROTOR_ERR_BACKEND:
    return "ROTOR_ERR_BACKEND";
  case ROTOR_ERR_UNSUPPORTED:
    return "ROTOR_ERR_UNSUPPORTED";
  case ROTOR_ERR_OUT_OF_MEMORY:
    return "ROTOR_ERR_OUT_OF_MEMORY";
  }
  return "ROTOR_ERR_UNKNOWN";
}
