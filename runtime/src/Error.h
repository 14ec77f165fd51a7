//===- Error.h - Thread-local error reporting -------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Every fallible runtime function returns a rotor_status and, on failure,
// records a message that rotor_last_error() returns. `fail` does both:
//
//   return fail(ROTOR_ERR_FORMAT, path, ": shape[1]: dimension -3 is
//   negative");
//
// `guard` runs a C API body and turns escaping C++ exceptions (allocation
// failures) into a status, so none crosses the C boundary.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_ERROR_H
#define ROTOR_SRC_ERROR_H

#include "rotor/runtime.h"

#include <new>
#include <sstream>
#include <string>
#include <utility>

namespace rotor {

/// Concatenates the stream representations of `parts`.
template <typename... Ts> std::string strCat(const Ts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

/// Records `message` as this thread's last error.
void setLastError(std::string message);

/// Records the concatenation of `parts` as the last error; returns `status`.
template <typename... Ts>
rotor_status fail(rotor_status status, const Ts &...parts) {
  setLastError(strCat(parts...));
  return status;
}

/// Quotes `text` for a message: 'text', with control characters and
/// non-ASCII bytes escaped and long strings shortened, so that untrusted
/// input never garbles a message.
std::string quote(const std::string &text);

/// Runs `body` (returning rotor_status); maps std::bad_alloc and any other
/// exception to an error status instead of letting it escape.
template <typename Fn> rotor_status guard(Fn &&body) {
  try {
    return std::forward<Fn>(body)();
  } catch (const std::bad_alloc &) {
    return fail(ROTOR_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception &e) {
    return fail(ROTOR_ERR_BACKEND, "internal error: ", e.what());
  } catch (...) {
    return fail(ROTOR_ERR_BACKEND, "internal error: unknown exception");
  }
}

} // namespace rotor

#endif // ROTOR_SRC_ERROR_H
