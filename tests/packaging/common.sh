# Sourced by the packaging tests: TAP-like reporting and a temp dir removed on exit
# (tests/support/tap.sh), unit checks.
# Exit status of a test: 0 all checks passed, 1 one failed, 77 a tool is missing ("SKIP: reason").

source "$(dirname "${BASH_SOURCE[0]}")/../support/tap.sh"

need() {   # need TOOL PACKAGE
    command -v "$1" >/dev/null || skip "$1 missing (Debian package $2; scripts/deps test installs it)"
}

unit_value() {   # unit_value FILE KEY: the value of the last KEY= line
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

# verify_units ROOT UNIT...: `systemd-analyze verify --root=ROOT` on units given by their path
# inside ROOT, so that ExecStart= is looked up in ROOT. The targets every unit depends on
# (sysinit.target, sockets.target, ...) come from this machine's systemd, copied into ROOT where ROOT
# has no unit of that name. Fails on a non-zero status and on any message naming one of our
# units (unknown keys and bad values are only warnings); other messages are shown, not counted.
verify_units() {
    local root=$1; shift
    local units=("$@") out rc names="" u
    mkdir -p "$root/usr/lib/systemd/system"
    cp -rn /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/" 2>/dev/null
    out=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1); rc=$?
    for u in "${units[@]}"; do names+="${names:+|}$(basename "$u")"; done
    DETAIL="systemd-analyze verify --root=$root ${units[*]}: exit $rc"$'\n'"$out"
    if (( rc != 0 )) || grep -Eq "$names" <<<"$out"; then return 1; fi
    [[ -n $out ]] && log "systemd-analyze said (about other units): $out"
    return 0
}

# check_service_paths ROOT UNIT_DIR: ExecStart, EnvironmentFile and Documentation of gipam.service
# name files that exist in ROOT.
check_service_paths() {
    local root=$1 dir=$2 exec env doc
    exec=$(unit_value "$root$dir/gipam.service" ExecStart)
    env=$(unit_value "$root$dir/gipam.service" EnvironmentFile)
    DETAIL="ExecStart=$exec: $(ls -l "$root${exec%% *}" 2>&1)"
    check "gipam.service ExecStart=$exec is the installed binary" \
        eval '[[ $exec == /* && -x $root${exec%% *} && ! -d $root${exec%% *} ]] && "$root${exec%% *}" --version | grep -q "^gipam "'
    DETAIL="EnvironmentFile=$env: $(ls -l "$root${env#-}" 2>&1)"
    check "gipam.service EnvironmentFile=$env is installed" \
        eval '[[ $env == -/etc/gipam/gipam.env && -f $root/etc/gipam/gipam.env ]]'
    local unit
    for unit in gipam.service gipam.socket; do
        doc=$(unit_value "$root$dir/$unit" Documentation)
        DETAIL="Documentation=$doc"
        check "$unit Documentation=$doc is installed" eval '[[ $doc == file:///* && -f $root${doc#file://} ]]'
    done
}
