# fg_module(<name> DEPS <libs...>): one static library fg_<name> from src/<name>/*.cpp.
function(fg_module name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  add_library(fg_${name} STATIC ${sources})
  target_include_directories(fg_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(fg_${name} PUBLIC ${ARG_DEPS})
endfunction()
