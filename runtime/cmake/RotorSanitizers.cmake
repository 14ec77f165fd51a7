#===- RotorSanitizers.cmake - ROTOR_SANITIZE builds ------------------------===#
#
# -DROTOR_SANITIZE=address,undefined instruments Rotor's own code (the MLIR
# and LLVM libraries stay uninstrumented) and makes every sanitizer report
# fatal. With Clang the executables and libraries share one sanitizer
# runtime, libclang_rt.asan-*.so (-shared-libasan, found through an rpath),
# so that an instrumented librotor_runtime.so loads into an uninstrumented
# Python when that runtime is preloaded: ROTOR_SANITIZER_PRELOAD names it and
# ROTOR_SANITIZER_PYTHON_ENV is the environment for such tests (leak
# detection off: CPython does not free everything at exit).
#
# Included by the top-level CMakeLists.txt and by runtime/CMakeLists.txt
# when the runtime is built on its own.
#
#===----------------------------------------------------------------------===#

include_guard(GLOBAL)

set(ROTOR_SANITIZE "" CACHE STRING
  "Sanitizers for Rotor's code (-fsanitize= list, e.g. address,undefined)")
set(ROTOR_SANITIZER_PRELOAD "")
set(ROTOR_SANITIZER_PYTHON_ENV "")
set(ROTOR_SANITIZER_TEST_ENV "")

if(ROTOR_SANITIZE)
  add_compile_options(-fsanitize=${ROTOR_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${ROTOR_SANITIZE})
  if(ROTOR_SANITIZE MATCHES "address")
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      # Not for libFuzzer targets (ROTOR_FUZZER property): -fsanitize=fuzzer
      # puts libstdc++ ahead of a shared ASan runtime, which must come first.
      add_link_options(
        "$<$<NOT:$<BOOL:$<TARGET_PROPERTY:ROTOR_FUZZER>>>:-shared-libasan>")
      execute_process(
        COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libclang_rt.asan-x86_64.so
        OUTPUT_VARIABLE ROTOR_SANITIZER_PRELOAD
        OUTPUT_STRIP_TRAILING_WHITESPACE)
      get_filename_component(rotor_sanitizer_dir "${ROTOR_SANITIZER_PRELOAD}"
                             DIRECTORY)
      add_link_options("LINKER:-rpath,${rotor_sanitizer_dir}")
    else()
      # GCC links the shared libasan by default.
      execute_process(
        COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
        OUTPUT_VARIABLE ROTOR_SANITIZER_PRELOAD
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    endif()
    if(NOT EXISTS "${ROTOR_SANITIZER_PRELOAD}")
      message(FATAL_ERROR "ROTOR_SANITIZE: cannot find the shared ASan "
                          "runtime (got '${ROTOR_SANITIZER_PRELOAD}')")
    endif()
    # allow_user_poisoning=0: LLVM's header-only allocators, compiled into
    # Rotor's instrumented libraries, poison memory that the uninstrumented
    # libMLIR then reads legitimately (through intercepted memmove): false
    # "use-after-poison" reports in every tool run. Real out-of-bounds and
    # use-after-free reports are unaffected.
    set(ROTOR_SANITIZER_TEST_ENV "ASAN_OPTIONS=allow_user_poisoning=0")
    set(ROTOR_SANITIZER_PYTHON_ENV
      "LD_PRELOAD=${ROTOR_SANITIZER_PRELOAD}"
      "ASAN_OPTIONS=detect_leaks=0:allow_user_poisoning=0")
  endif()
  message(STATUS "Sanitizers: ${ROTOR_SANITIZE}"
                 " (preload for Python: '${ROTOR_SANITIZER_PRELOAD}')")
endif()
