# SPDX-License-Identifier: MIT
# install_service.cmake - run by cmake --install (see the top-level
# CMakeLists.txt): installs the systemd unit with the paths of this install
# (its --prefix included) filled in, and the default statemgrd.conf unless
# one is there already (an operator's edits are kept).
# In: SM_SOURCE_DIR, SM_BINARY_DIR, SM_BINDIR, SM_SYSCONFDIR and
# SM_SYSTEMD_UNIT_DIR (each relative to the prefix, or absolute).

# dir under the prefix unless absolute; etc under /usr or / is /etc, as
# GNUInstallDirs has it.
function(sm_full_path out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  elseif(dir STREQUAL "etc" AND CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
    set(${out} "/etc" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

sm_full_path(SM_FULL_BINDIR "${SM_BINDIR}")
sm_full_path(sysconfdir "${SM_SYSCONFDIR}")
sm_full_path(unitdir "${SM_SYSTEMD_UNIT_DIR}")
set(confdir "${sysconfdir}/statemgr")
set(SM_CONF_FILE "${confdir}/statemgrd.conf")

configure_file("${SM_SOURCE_DIR}/dist/systemd/statemgrd.service.in"
  "${SM_BINARY_DIR}/dist/statemgrd.service" @ONLY)
file(INSTALL "${SM_BINARY_DIR}/dist/statemgrd.service" DESTINATION "${unitdir}")
if(EXISTS "$ENV{DESTDIR}${SM_CONF_FILE}")
  message(STATUS "Keeping: $ENV{DESTDIR}${SM_CONF_FILE}")
else()
  file(INSTALL "${SM_SOURCE_DIR}/dist/statemgrd.conf" DESTINATION "${confdir}")
endif()
