#===- LoomAddLibrary.cmake - thin wrappers for Loom targets ---------------===#
#
# add_loom_library(name SOURCES... [NO_MLIR] [DEPENDS tgt...] [LINK_LIBS lib...])
#   A shared library exported as Loom::<name>. It links the MLIR and LLVM
#   dylibs and never the static MLIR archives, so a tool and the plugins it
#   loads share one copy of MLIR. NO_MLIR: the LLVM dylib only (the
#   runtime, the model-file readers and their support: what loom-run needs
#   to run an artifact); linking with -z defs, a use of MLIR is then a link
#   error. The name is recorded in the global property
#   LOOM_LIBS, which tools link (the CIRCT idiom).
#
#===----------------------------------------------------------------------===#

function(add_loom_library name)
  cmake_parse_arguments(ARG "NO_MLIR" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} SHARED ${ARG_UNPARSED_ARGUMENTS})
  add_library(Loom::${name} ALIAS ${name})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  if(ARG_NO_MLIR)
    target_link_libraries(${name} PUBLIC LLVM ${ARG_LINK_LIBS})
  else()
    target_link_libraries(${name} PUBLIC MLIR LLVM ${ARG_LINK_LIBS})
  endif()
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

# add_loom_tool(name SOURCES... [NO_MLIR] [LINK_LIBS lib...])
function(add_loom_tool name)
  cmake_parse_arguments(ARG "NO_MLIR" "" "LINK_LIBS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  if(ARG_NO_MLIR)
    target_link_libraries(${name} PRIVATE LLVM ${ARG_LINK_LIBS})
  else()
    target_link_libraries(${name} PRIVATE MLIR LLVM ${ARG_LINK_LIBS})
  endif()
  install(TARGETS ${name} EXPORT LoomTargets
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
