# yg_module(<name> SOURCES ... DEPS ...): one static library per module, named yg_<name>.
# DEPS mirror the module graph in docs/architecture.md; a back-edge is a review failure.
function(yg_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(yg_${name} STATIC ${M_SOURCES})
  target_include_directories(yg_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(yg_${name} PUBLIC ${M_DEPS})
  yg_warnings(yg_${name})
endfunction()

# yg_unit_test(<module> SOURCES ...): one gtest binary per module, labelled "unit".
function(yg_unit_test module)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  set(target unit_${module})
  add_executable(${target} ${T_SOURCES})
  target_link_libraries(${target} PRIVATE yg_${module} ${T_DEPS} GTest::gtest GTest::gtest_main
    GTest::gmock)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${target} PRIVATE
    YG_TEST_VECTORS_DIR="${PROJECT_SOURCE_DIR}/tests/vectors")
  yg_warnings(${target})
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES LABELS unit)
endfunction()
