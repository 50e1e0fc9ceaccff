# Part of cmake_install.cmake (install(SCRIPT)): configures systemd/*.in with the prefix of *this*
# install and installs the units the way install(FILES) would (DESTDIR, manifest, message).
# The prefix is only final now: `cmake --install --prefix X` and cpack (prefix /usr) override the
# one given at configure time, and ExecStart must name the binary where it is actually installed.
#
# Set by install(CODE) before this runs: GIPAM_SOURCE_DIR and, relative to the prefix or absolute,
# GIPAM_BINDIR, GIPAM_DOCDIR, GIPAM_SYSTEMD_UNIT_DIR.

foreach(dir BINDIR DOCDIR SYSTEMD_UNIT_DIR)
  cmake_path(ABSOLUTE_PATH GIPAM_${dir} BASE_DIRECTORY "${CMAKE_INSTALL_PREFIX}" NORMALIZE
             OUTPUT_VARIABLE gipam_full_${dir})
endforeach()
# The names the .in files use.
set(CMAKE_INSTALL_FULL_BINDIR "${gipam_full_BINDIR}")
set(CMAKE_INSTALL_FULL_DOCDIR "${gipam_full_DOCDIR}")

foreach(unit gipam.service gipam.socket)
  set(gipam_unit_path "$ENV{DESTDIR}${gipam_full_SYSTEMD_UNIT_DIR}/${unit}")
  message(STATUS "Installing: ${gipam_unit_path}")
  configure_file("${GIPAM_SOURCE_DIR}/systemd/${unit}.in" "${gipam_unit_path}" @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${gipam_full_SYSTEMD_UNIT_DIR}/${unit}")
endforeach()
