#===- LoomAddLibrary.cmake - thin wrappers for Loom targets ---------------===#
#
# add_loom_library(name SOURCES... [DEPENDS tgt...] [LINK_LIBS lib...])
#   A shared library exported as Loom::<name>. It links the MLIR and LLVM
#   dylibs and never the static MLIR archives, so a tool and the plugins it
#   loads share one copy of MLIR. The name is recorded in the global property
#   LOOM_LIBS, which tools link (the CIRCT idiom).
#
#===----------------------------------------------------------------------===#

function(add_loom_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} SHARED ${ARG_UNPARSED_ARGUMENTS})
  add_library(Loom::${name} ALIAS ${name})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_link_libraries(${name} PUBLIC MLIR LLVM ${ARG_LINK_LIBS})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  set_property(GLOBAL APPEND PROPERTY LOOM_LIBS ${name})
  install(TARGETS ${name} EXPORT LoomTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# add_loom_tool(name SOURCES... [LINK_LIBS lib...])
function(add_loom_tool name)
  cmake_parse_arguments(ARG "" "" "LINK_LIBS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE MLIR LLVM ${ARG_LINK_LIBS})
  install(TARGETS ${name} EXPORT LoomTargets
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
