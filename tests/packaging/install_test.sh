#!/usr/bin/env bash
# `cmake --install` of a build tree into scratch DESTDIRs: the files land where the units expect
# them, ExecStart names the installed binary (also with --prefix), and `systemd-analyze verify`
# accepts both units.
#
#   bash tests/packaging/install_test.sh BUILD_DIR
set -u -o pipefail
source "$(dirname "$0")/common.sh"

(( $# == 1 )) || { echo "usage: install_test.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(readlink -f "$1")
need systemd-analyze systemd
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
[[ -n $prefix ]] || { echo "no CMAKE_INSTALL_PREFIX in $BUILD/CMakeCache.txt"; exit 1; }
make_temp_dir gipam-packaging

# As README.md has it, with DESTDIR added: the build's own prefix (by default /usr/local).
root=$T/root
out=$(DESTDIR=$root cmake --install "$BUILD" 2>&1); rc=$?
DETAIL=$out
check "DESTDIR=... cmake --install $BUILD (prefix $prefix)" eval '(( rc == 0 ))'
units=$prefix/lib/systemd/system
for f in "$prefix/bin/gipam" "$units/gipam.service" "$units/gipam.socket" /etc/gipam/gipam.env \
         "$prefix/share/doc/gipam/README.md" "$prefix/share/doc/gipam/leases.example.json" \
         "$prefix/share/gipam/prometheus/gipam-alerts.yml"; do
    DETAIL=$(cd "$root" && find . -type f | sort)
    check "installs $f" test -f "$root$f"
done
DETAIL=$(cd "$root" && find . -type f | sort)
check "installs no other file (nothing under $prefix/etc)" \
    eval '[[ $(cd "$root" && find . -type f | wc -l) == 7 ]]'
check_service_paths "$root" "$units"
listen=$(unit_value "$root$units/gipam.socket" ListenStream)
DETAIL="ListenStream=$listen"
check "gipam.socket listens where dockerd looks (/run/docker/plugins/gipam.sock)" \
    eval '[[ $listen == /run/docker/plugins/gipam.sock ]]'
check "systemd-analyze verify accepts the installed gipam.service and gipam.socket" \
    verify_units "$root" "$units/gipam.service" "$units/gipam.socket"

# Another prefix at install time: the units follow it, gipam.env stays where the unit reads it.
root2=$T/opt-root
out=$(DESTDIR=$root2 cmake --install "$BUILD" --prefix /opt/gipam 2>&1); rc=$?
DETAIL=$out
check "DESTDIR=... cmake --install $BUILD --prefix /opt/gipam" eval '(( rc == 0 ))'
exec2=$(unit_value "$root2/opt/gipam/lib/systemd/system/gipam.service" ExecStart)
DETAIL="ExecStart=$exec2; /etc/gipam/gipam.env: $(ls -l "$root2/etc/gipam/gipam.env" 2>&1)"
check "with --prefix /opt/gipam: ExecStart=/opt/gipam/bin/gipam, gipam.env still in /etc/gipam" \
    eval '[[ $exec2 == /opt/gipam/bin/gipam && -x $root2/opt/gipam/bin/gipam && -f $root2/etc/gipam/gipam.env ]]'

exit $(( FAILED == 0 ? 0 : 1 ))
