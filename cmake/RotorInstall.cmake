#===- cmake/RotorInstall.cmake - cmake --install and find_package(Rotor) ---===#
#
# Installs the tools, the compiler libraries (shared), the public headers,
# the generated .inc files, the TableGen files and a CMake package:
#
#   PREFIX/bin/{rotor-opt,rotorc,rotor-run}
#   PREFIX/lib/libRotor*.so, librotor_runtime.so
#   PREFIX/include/rotor/...            headers, *.td, generated *.inc
#   PREFIX/lib/cmake/rotor/             RotorConfig.cmake, RotorTargets.cmake
#   PREFIX/share/rotor/python/          rotor_runtime.py (ctypes binding),
#                                       rotor_ref.py (NumPy reference)
#
# find_package(Rotor CONFIG) then gives the imported targets
# Rotor::RotorDialect, Rotor::RotorTransforms, Rotor::RotorToLinalg,
# Rotor::RotorCpuTarget, Rotor::RotorFrontend, Rotor::rotor-opt and
# Rotor::rotorc (docs/extending.md).
#
#===----------------------------------------------------------------------===#

include(CMakePackageConfigHelpers)

set(ROTOR_INSTALL_CMAKE_DIR lib/cmake/rotor)

foreach(lib ${ROTOR_EXPORTED_LIBRARIES})
  target_include_directories(${lib} INTERFACE $<INSTALL_INTERFACE:include>)
endforeach()

install(TARGETS ${ROTOR_EXPORTED_LIBRARIES} rotor-opt rotorc
  EXPORT RotorTargets
  LIBRARY DESTINATION lib
  ARCHIVE DESTINATION lib
  RUNTIME DESTINATION bin)
install(EXPORT RotorTargets
  NAMESPACE Rotor::
  DESTINATION ${ROTOR_INSTALL_CMAKE_DIR})

# Headers and TableGen files (so that a plugin's ODS can include
# rotor/Dialect/Rotor/RotorBase.td), then the generated .inc files.
install(DIRECTORY
    ${PROJECT_SOURCE_DIR}/dialects/include/rotor
    ${PROJECT_SOURCE_DIR}/include/rotor
  DESTINATION include
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY
    ${PROJECT_BINARY_DIR}/dialects/include/rotor
    ${PROJECT_BINARY_DIR}/include/rotor
  DESTINATION include
  FILES_MATCHING PATTERN "*.inc"
  PATTERN "CMakeFiles" EXCLUDE)

# For numerics tests of out-of-tree projects: the ctypes binding of the
# runtime's C API and the float64 NumPy reference of the rotor ops (masks,
# tolerances, bf16 rounding).
install(FILES
    ${PROJECT_SOURCE_DIR}/test/numerics/rotor_runtime.py
    ${PROJECT_SOURCE_DIR}/test/numerics/rotor_ref.py
  DESTINATION share/rotor/python)

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/RotorConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/RotorConfig.cmake
  INSTALL_DESTINATION ${ROTOR_INSTALL_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/RotorConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/cmake/RotorConfig.cmake
    ${PROJECT_BINARY_DIR}/cmake/RotorConfigVersion.cmake
  DESTINATION ${ROTOR_INSTALL_CMAKE_DIR})
