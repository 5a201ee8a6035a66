# SPDX-License-Identifier: MIT
# publish_archive.cmake - makes the one object a published static library
# holds, so the archive exports its public API and nothing else (run with
# cmake -P by sm_publish_archive() of the top-level CMakeLists.txt).
#
# A static archive is only a bag of objects: every non-static function of
# every file stays global in it, whatever its visibility. So the library's
# objects are first linked into one relocatable object (ld -r), which binds
# their references to each other for good, and then every hidden symbol
# (all but the SM_EXTERN declarations of the public headers, the code being
# built with -fvisibility=hidden) is made local (objcopy --localize-hidden),
# as the shared library's dynamic symbol table already is.
#
# Variables (-D):
#   LINKER, OBJCOPY, NM  the tools (CMAKE_LINKER, CMAKE_OBJCOPY, CMAKE_NM)
#   OBJECT_LIST          a file naming the objects, one a line
#   OUTPUT               the object to write
#   LEAVE_TO             optional: an object made by this script whose global
#                        symbols are made local here too. The server library
#                        carries its own copy of the value module (sm_value_*)
#                        for its internals; its users get sm_value_* from
#                        libstatemgr, so the two archives never define one
#                        name twice.
cmake_minimum_required(VERSION 3.18)
foreach(var LINKER OBJCOPY NM OBJECT_LIST OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "publish_archive.cmake: ${var} is not set")
  endif()
endforeach()

file(STRINGS "${OBJECT_LIST}" objects)
list(FILTER objects EXCLUDE REGEX "^$")
if(NOT objects)
  message(FATAL_ERROR "publish_archive.cmake: ${OBJECT_LIST} names no object")
endif()

set(linked "${OUTPUT}.linked.o")
execute_process(COMMAND "${LINKER}" -r -o "${linked}" ${objects} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "publish_archive.cmake: ${LINKER} -r failed (${rc})")
endif()

set(localize_args --localize-hidden)
if(LEAVE_TO)
  execute_process(COMMAND "${NM}" -g --defined-only --format=posix "${LEAVE_TO}"
    OUTPUT_VARIABLE nm_out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "publish_archive.cmake: ${NM} ${LEAVE_TO} failed (${rc})")
  endif()
  # posix format: "name type value size", one symbol a line.
  string(REGEX REPLACE "([^ \n]+) [^\n]*" "\\1" names "${nm_out}")
  file(WRITE "${OUTPUT}.localize" "${names}")
  list(APPEND localize_args "--localize-symbols=${OUTPUT}.localize")
endif()

execute_process(COMMAND "${OBJCOPY}" ${localize_args} "${linked}" "${OUTPUT}" RESULT_VARIABLE rc)
file(REMOVE "${linked}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "publish_archive.cmake: ${OBJCOPY} failed (${rc})")
endif()
