#!/usr/bin/env bash
# `cpack -G DEB` of a build tree into a scratch directory: the package holds exactly the expected
# files with prefix /usr and gipam.env in /etc/gipam as a conffile, its units name the packaged
# binary, its maintainer scripts parse, and `systemd-analyze verify` accepts the extracted units.
#
#   bash tests/packaging/deb_test.sh BUILD_DIR
set -u -o pipefail
source "$(dirname "$0")/common.sh"

(( $# == 1 )) || { echo "usage: deb_test.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(readlink -f "$1")
need cpack cmake
need dpkg-deb dpkg
need dpkg-shlibdeps dpkg-dev
need systemd-analyze systemd
make_temp_dir gipam-packaging

# As README.md has it, with a scratch directory for -B.
out=$(cd "$T" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/out" 2>&1); rc=$?
debs=("$T"/out/*.deb)
DETAIL=$out
check "cpack -G DEB makes one .deb" eval '(( rc == 0 && ${#debs[@]} == 1 )) && [[ -f ${debs[0]} ]]'
(( FAILED == 0 )) || exit 1
deb=${debs[0]}
log "$(basename "$deb"), $(stat -c %s "$deb") bytes"

expected="./etc/gipam/gipam.env
./usr/bin/gipam
./usr/lib/systemd/system/gipam.service
./usr/lib/systemd/system/gipam.socket
./usr/share/doc/gipam/README.md
./usr/share/doc/gipam/leases.example.json
./usr/share/gipam/prometheus/gipam-alerts.yml"
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)
DETAIL="dpkg-deb -c lists:"$'\n'"$files"
check "dpkg-deb -c: exactly the binary, both units, /etc/gipam/gipam.env, the docs and the alert rules" \
    eval '[[ $files == "$expected" ]]'

fields=$(dpkg-deb -f "$deb" Package Depends)
DETAIL=$fields
check "control: package gipam, depends on the POCO libraries (dpkg-shlibdeps)" \
    eval '[[ $fields == *"Package: gipam"* && $fields == *libpoconet* ]]'

dpkg-deb -e "$deb" "$T/control"
DETAIL="conffiles: $(cat "$T/control/conffiles" 2>&1)"
check "/etc/gipam/gipam.env is a conffile" eval '[[ $(cat "$T/control/conffiles" 2>/dev/null) == /etc/gipam/gipam.env ]]'
for script in postinst prerm postrm; do
    DETAIL="$(ls -l "$T/control/$script" 2>&1); $(sh -n "$T/control/$script" 2>&1)"
    check "maintainer script $script is executable and parses" \
        eval '[[ -x $T/control/$script ]] && sh -n "$T/control/$script"'
done

root=$T/root
dpkg -x "$deb" "$root"
check_service_paths "$root" /usr/lib/systemd/system
exec=$(unit_value "$root/usr/lib/systemd/system/gipam.service" ExecStart)
DETAIL="ExecStart=$exec"
check "gipam.service ExecStart=/usr/bin/gipam" eval '[[ $exec == /usr/bin/gipam ]]'
check "systemd-analyze verify accepts the packaged gipam.service and gipam.socket" \
    verify_units "$root" /usr/lib/systemd/system/gipam.service /usr/lib/systemd/system/gipam.socket

exit $(( FAILED == 0 ? 0 : 1 ))
