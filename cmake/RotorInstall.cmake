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
# find_package(Rotor CONFIG) then gives an imported target Rotor::NAME for
# each library (Rotor::RotorDialect, Rotor::RotorToLinalg, ...) and
# Rotor::rotor-opt, Rotor::rotorc (docs/extending.md).
#
#===----------------------------------------------------------------------===#

include(CMakePackageConfigHelpers)

# The compiler libraries: every library target defined under dialects/ and
# lib/, so that a library added there is installed and exported without
# being listed here.
function(rotor_collect_libraries dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  set(found)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(SHARED|STATIC)_LIBRARY$")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    rotor_collect_libraries(${sub} sub_found)
    list(APPEND found ${sub_found})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
rotor_collect_libraries(${PROJECT_SOURCE_DIR}/dialects dialect_libraries)
rotor_collect_libraries(${PROJECT_SOURCE_DIR}/lib compiler_libraries)
set(ROTOR_EXPORTED_LIBRARIES ${dialect_libraries} ${compiler_libraries})
message(STATUS "Rotor libraries installed and exported: ${ROTOR_EXPORTED_LIBRARIES}")

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
