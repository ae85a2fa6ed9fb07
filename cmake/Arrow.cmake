# Apache Arrow C++: a system install when CMake finds one, otherwise the headers and
# shared libraries bundled in the pinned pyarrow wheel inside .venv (linked with an rpath).
# Both paths define the same imported targets: ingester::arrow, ingester::parquet,
# ingester::arrow_flight, ingester::arrow_compute, ingester::arrow_s3.
set(ARROW_PINNED_VERSION "26.0.1")

find_package(Arrow ${ARROW_PINNED_VERSION} CONFIG QUIET)
if(Arrow_FOUND)
  find_package(Parquet CONFIG REQUIRED)
  find_package(ArrowFlight CONFIG REQUIRED)
  find_package(ArrowCompute CONFIG QUIET)
  message(STATUS "Arrow ${Arrow_VERSION}: system install")
  add_library(ingester::arrow INTERFACE IMPORTED)
  target_link_libraries(ingester::arrow INTERFACE Arrow::arrow_shared)
  add_library(ingester::parquet INTERFACE IMPORTED)
  target_link_libraries(ingester::parquet INTERFACE Parquet::parquet_shared)
  add_library(ingester::arrow_flight INTERFACE IMPORTED)
  target_link_libraries(ingester::arrow_flight INTERFACE ArrowFlight::arrow_flight_shared)
  add_library(ingester::arrow_compute INTERFACE IMPORTED)
  if(TARGET ArrowCompute::arrow_compute_shared)
    target_link_libraries(ingester::arrow_compute INTERFACE ArrowCompute::arrow_compute_shared)
  endif()
  add_library(ingester::arrow_s3 INTERFACE IMPORTED)
  return()
endif()

set(INGESTER_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python of the virtual environment holding the pinned pyarrow wheel")
execute_process(
  COMMAND ${INGESTER_PYTHON} -c
          "import os, pyarrow; print(pyarrow.__version__); print(os.path.dirname(pyarrow.__file__))"
  OUTPUT_VARIABLE _pyarrow_out RESULT_VARIABLE _pyarrow_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pyarrow_rc EQUAL 0)
  message(FATAL_ERROR "No Arrow C++ found: neither a system install nor pyarrow in "
                      "${INGESTER_PYTHON}. Run scripts/bootstrap.sh first.")
endif()
string(REPLACE "\n" ";" _pyarrow_out "${_pyarrow_out}")
list(GET _pyarrow_out 0 PYARROW_VERSION)
list(GET _pyarrow_out 1 PYARROW_DIR)
if(NOT PYARROW_VERSION VERSION_EQUAL ARROW_PINNED_VERSION)
  message(FATAL_ERROR "pyarrow ${PYARROW_VERSION} in .venv, expected ${ARROW_PINNED_VERSION}")
endif()
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _unused "${PYARROW_VERSION}")
# libarrow.so.2600 for 26.0.x: major * 100 + minor.
math(EXPR ARROW_SO_VERSION "${CMAKE_MATCH_1} * 100 + ${CMAKE_MATCH_2}")
message(STATUS "Arrow ${PYARROW_VERSION}: pyarrow wheel at ${PYARROW_DIR} (so.${ARROW_SO_VERSION})")
set(ARROW_LIBRARY_DIR "${PYARROW_DIR}" CACHE INTERNAL "")

function(_ingester_import_arrow name file)
  set(_path "${PYARROW_DIR}/${file}.so.${ARROW_SO_VERSION}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "missing ${_path}")
  endif()
  add_library(ingester::${name} SHARED IMPORTED GLOBAL)
  set_target_properties(ingester::${name} PROPERTIES
    IMPORTED_LOCATION "${_path}"
    IMPORTED_NO_SONAME FALSE)
  # SYSTEM: warnings inside Arrow's headers are not ours to fix.
  target_include_directories(ingester::${name} SYSTEM INTERFACE "${PYARROW_DIR}/include")
endfunction()

_ingester_import_arrow(arrow libarrow)
_ingester_import_arrow(arrow_compute libarrow_compute)
_ingester_import_arrow(parquet libparquet)
_ingester_import_arrow(arrow_flight libarrow_flight)
_ingester_import_arrow(arrow_s3 libarrow_s3)
target_link_libraries(ingester::parquet INTERFACE ingester::arrow)
target_link_libraries(ingester::arrow_compute INTERFACE ingester::arrow)
target_link_libraries(ingester::arrow_flight INTERFACE ingester::arrow)
target_link_libraries(ingester::arrow_s3 INTERFACE ingester::arrow)

# Binaries find the wheel's libraries through their rpath, so nothing needs LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH "${PYARROW_DIR}")
set(CMAKE_INSTALL_RPATH "${PYARROW_DIR}")
