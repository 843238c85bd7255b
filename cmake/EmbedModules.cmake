# The stages of embed are folders under src/, one static library each (embed_<folder>), declared
# with embed_module(). The build holds the folders to their declared dependencies:
#   - a module may depend only on modules declared before it (src/CMakeLists.txt lists them in
#     order), so dependencies run one way and form no cycle;
#   - a source or header may include another module's headers ("input/fasta.h") only when that
#     module is among its DEPENDS;
#   - a NO_TORCH module neither links LibTorch nor includes its headers, nor depends on a module
#     that does.
# A violation stops the configure, naming the file, the line and the rule.
#
#   embed_module(<folder> [NO_TORCH] [DEPENDS <folder>...] [LIBRARIES <target>...]
#                [SOURCES <extra source>...] [EXCLUDE <file name>...])
#
# The library is built from the folder's *.cpp (minus EXCLUDE) and SOURCES; every module sees
# src/ and the generated headers, and links embed_build_flags (warnings, sanitizers); modules
# without NO_TORCH link embed_torch (LibTorch and OpenMP).

# Folders that hold a module: src/<name>/ and src/models/<family>/.
file(GLOB _embed_module_lists RELATIVE ${PROJECT_SOURCE_DIR}/src
     ${PROJECT_SOURCE_DIR}/src/*/CMakeLists.txt ${PROJECT_SOURCE_DIR}/src/models/*/CMakeLists.txt)
set(EMBED_MODULE_FOLDERS "")
foreach(_list ${_embed_module_lists})
  get_filename_component(_folder ${_list} DIRECTORY)
  list(APPEND EMBED_MODULE_FOLDERS ${_folder})
endforeach()

function(embed_module_target folder out)
  string(REPLACE "/" "_" name ${folder})
  set(${out} embed_${name} PARENT_SCOPE)
endfunction()

# The module an include path names: "models/esm/config.h" -> models/esm, "input/fasta.h" ->
# input; "" when the path is not under a module's folder (a system or third-party header).
function(embed_included_module path out)
  set(result "")
  foreach(folder ${EMBED_MODULE_FOLDERS})
    string(LENGTH "${folder}/" length)
    string(SUBSTRING "${path}" 0 ${length} prefix)
    string(LENGTH "${result}" result_length)
    if(prefix STREQUAL "${folder}/" AND length GREATER result_length)
      set(result ${folder})
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

function(embed_check_includes folder no_torch allowed)
  file(GLOB files CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp
       ${CMAKE_CURRENT_SOURCE_DIR}/*.h.in)
  foreach(file ${files})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include")
    file(RELATIVE_PATH shown ${PROJECT_SOURCE_DIR} ${file})
    foreach(line ${lines})
      if(no_torch AND line MATCHES "<(torch|ATen|c10|caffe2)/")
        message(FATAL_ERROR "${shown}: ${line}\n  src/${folder} is a NO_TORCH module: it may not "
                            "include LibTorch's headers (cmake/EmbedModules.cmake).")
      endif()
      if(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
        embed_included_module("${CMAKE_MATCH_1}" module)
        if(module AND NOT module STREQUAL folder)
          list(FIND allowed ${module} found)
          if(found EQUAL -1)
            message(FATAL_ERROR "${shown}: ${line}\n  src/${folder} may not include src/${module}: it "
                                "is not among the module's dependencies (${allowed}). Dependencies run "
                                "one way; declare it in src/${folder}/CMakeLists.txt if it belongs there.")
          endif()
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()

function(embed_module folder)
  cmake_parse_arguments(ARG "NO_TORCH" "" "DEPENDS;LIBRARIES;SOURCES;EXCLUDE" ${ARGN})
  embed_module_target(${folder} target)
  set(dependency_targets "")
  foreach(dependency ${ARG_DEPENDS})
    embed_module_target(${dependency} dependency_target)
    if(NOT TARGET ${dependency_target})
      message(FATAL_ERROR "src/${folder} depends on src/${dependency}, which is not declared before "
                          "it in src/CMakeLists.txt: dependencies run one way.")
    endif()
    get_target_property(dependency_no_torch ${dependency_target} EMBED_NO_TORCH)
    if(ARG_NO_TORCH AND NOT dependency_no_torch)
      message(FATAL_ERROR "src/${folder} is a NO_TORCH module but depends on src/${dependency}, "
                          "which uses LibTorch.")
    endif()
    list(APPEND dependency_targets ${dependency_target})
  endforeach()
  if(ARG_NO_TORCH)
    foreach(library ${ARG_LIBRARIES})
      if(library MATCHES "torch|embed_torch")
        message(FATAL_ERROR "src/${folder} is a NO_TORCH module but links ${library}.")
      endif()
    endforeach()
  endif()
  embed_check_includes(${folder} "${ARG_NO_TORCH}" "${ARG_DEPENDS}")

  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  foreach(excluded ${ARG_EXCLUDE})
    list(REMOVE_ITEM sources ${CMAKE_CURRENT_SOURCE_DIR}/${excluded})
  endforeach()
  add_library(${target} STATIC ${sources} ${ARG_SOURCES})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src
                                              ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(${target} PUBLIC ${dependency_targets} ${ARG_LIBRARIES}
                        PRIVATE embed_build_flags)
  set_target_properties(${target} PROPERTIES EMBED_NO_TORCH "${ARG_NO_TORCH}")
  if(NOT ARG_NO_TORCH)
    target_link_libraries(${target} PUBLIC embed_torch)
    embed_precompile_torch(${target})
  endif()
endfunction()

# LibTorch's headers take most of a source's compile time: with EMBED_PRECOMPILE_HEADERS the
# first LibTorch module precompiles <torch/torch.h> and the other LibTorch modules and the test
# executables reuse it (all compile with the compiler's default code model, so one header fits
# all). The NO_TORCH modules never see it; a build with it OFF (CI's clang build) shows a
# source's missing includes.
function(embed_precompile_torch target)
  if(NOT EMBED_PRECOMPILE_HEADERS)
    return()
  endif()
  get_property(owner GLOBAL PROPERTY EMBED_TORCH_PCH_OWNER)
  if(owner)
    target_precompile_headers(${target} REUSE_FROM ${owner})
  else()
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
    set_property(GLOBAL PROPERTY EMBED_TORCH_PCH_OWNER ${target})
  endif()
endfunction()
