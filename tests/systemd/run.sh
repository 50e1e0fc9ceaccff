#!/usr/bin/env bash
# End-to-end test of the Debian package under a real systemd as PID 1: a Debian bookworm rootfs
# booted with systemd-nspawn, the .deb installed and enabled as README.md "As a Debian package"
# says, then socket activation, Type=notify, the hardening, restarts under load, LimitNOFILE, the
# watchdog and stop are checked against what systemd itself reports.
#
#   bash tests/systemd/run.sh /path/to/gipam_*.deb      (or a build directory, to package it first)
#
# Exit status: 0 all checks passed, 1 a check failed (or the harness broke), 77 cannot run here
# (not root, debootstrap/systemd-nspawn missing, no network for debootstrap/apt: "SKIP: reason").
#
# Environment knobs (all optional):
#   GIPAM_ROOTFS_CACHE=/var/cache/gipam-tests/bookworm-systemd.tar  the pristine rootfs; made by
#                          debootstrap (about a minute) when missing, unpacked otherwise
#   GIPAM_DEBIAN_MIRROR=URL  debootstrap's mirror (default: debootstrap's own, deb.debian.org)
#   SYSTEMD_KEEP=1           keep the temp dir (rootfs, console log, load log) after the run
#   SYSTEMD_TIMEOUT=600      watchdog for the whole run, seconds
#
# The container shares the host's network (no --private-network) only so that apt-get reaches
# the Debian mirror; gipam and every request of the test use the Unix socket inside it.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/tap.sh"

DEB=${1:-}
CACHE=${GIPAM_ROOTFS_CACHE:-/var/cache/gipam-tests/bookworm-systemd.tar}
KEEP_TEMP_DIR=${SYSTEMD_KEEP:-0}
MACHINE=gipam-test-$$
SOCK=/run/docker/plugins/gipam.sock
LEASES=/var/lib/gipam/leases.json
NSPAWN_PID="" CPID=""   # systemd-nspawn on the host; the container's systemd (host PID)
DEBOOTSTRAP_PID=""       # debootstrap, in its own process group

die() { fail "harness: $1" "${@:2}"; exit 1; }

# cx CMD...: run CMD inside the container (all its namespaces), clean environment, bounded.
cx() {
    timeout -k 5 "${CX_TIMEOUT:-60}" nsenter -t "$CPID" -a env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C SYSTEMD_PAGER=cat DEBIAN_FRONTEND=noninteractive "$@"
}
# plugin ENDPOINT BODY: one plugin call from inside the container, as dockerd would make it
plugin() { cx curl -s -m 10 --unix-socket "$SOCK" -X POST "http://x/$1" -d "$2"; }
prop() { cx systemctl show "$1" -p "$2" --value; }    # prop UNIT PROPERTY
# journal_tail N: the last N lines about the units, less gipam's one line per granted/freed address
journal_tail() {
    cx journalctl -u gipam.service -u gipam.socket -n 2000 --no-pager -o short-monotonic |
        grep -Ev ' (granted|freed) ' | tail -n "${1:-40}"
}

# pool_addrs FILE POOL_ID: every address the lease file holds in that pool, one per line (ranges
# "a-b" expanded). The pool's object runs from its "id" to the first "]", the end of its
# "addresses" (options hold no "]"; the gateway keeps addresses non-empty). IPv4 only.
pool_addrs() {
    tr -d ' \n' <"$1" | grep -o "\"id\":\"$2\"[^]]*]" | sed -n 's/.*"addresses":\[\(.*\)\]$/\1/p' |
        tr ',' '\n' | tr -d '"' | awk -F- '
        function n(ip, a) { split(ip, a, "."); return ((a[1] * 256 + a[2]) * 256 + a[3]) * 256 + a[4] }
        function s(x) { return int(x / 16777216) "." int(x / 65536) % 256 "." int(x / 256) % 256 "." x % 256 }
        NF { lo = n($1); hi = NF > 1 ? n($2) : lo; for (i = lo; i <= hi; i++) print s(i) }'
}

stop_debootstrap() {
    if [[ -n $DEBOOTSTRAP_PID ]] && kill -0 "$DEBOOTSTRAP_PID" 2>/dev/null; then
        kill -TERM -- "-$DEBOOTSTRAP_PID"; sleep 1; kill -KILL -- "-$DEBOOTSTRAP_PID" 2>/dev/null
    fi
    DEBOOTSTRAP_PID=""
}
# On the watchdog's TERM (or ^C) while we `wait` for debootstrap: end it first. Else tap.sh's
# finish_run hangs in its `wait` for the (already gone) watchdog until debootstrap exits: bash
# does not notice that the watchdog has exited.
on_term() { stop_debootstrap; exit 1; }

# Before tap.sh removes $T: power the container off (then kill it by PID after a bound), and on a
# failure show the console and gipam's journal.
cleanup_systemd() {
    local rc=$1 i
    stop_debootstrap
    # debootstrap mounts proc, sys, ... in the rootfs; rm --one-file-system would stop at them
    awk -v r="$T/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r -n 1 umount -l
    [[ -n $NSPAWN_PID ]] || return 0
    run_failed "$rc" && kill -0 "$CPID" 2>/dev/null && journal_tail 60 | log_section "journalctl -u gipam (last 60)"
    [[ -n $CPID ]] && CX_TIMEOUT=10 cx systemctl poweroff --no-block >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
        log "container did not power off in 20s, killing it"
        [[ -n $CPID ]] && kill -KILL "$CPID" 2>/dev/null   # PID 1 of its namespace: ends them all
        sleep 1; kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
    wait "$NSPAWN_PID" 2>/dev/null
    rmdir "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null   # nspawn leaves it behind
    run_failed "$rc" && tail -n 30 "$T/console.log" 2>/dev/null | log_section "container console (last 30)"
}

# ---------------------------------------------------------------------------
# preflight, rootfs

[[ -n $DEB ]] || { echo "usage: $0 /path/to/gipam_*.deb | BUILD_DIR" >&2; exit 2; }
if [[ -d $DEB ]]; then
    # A build tree (how ctest calls it): package it as the README does.
    packaged=$(mktemp -d /tmp/gipam-systemd-deb.XXXXXX)
    (cd "$packaged" && cpack -G DEB --config "$DEB/CPackConfig.cmake" -B "$packaged" >cpack.log 2>&1) ||
        { echo "not ok - cpack -G DEB of $DEB"; cat "$packaged/cpack.log"; echo "0 passed, 1 failed"; exit 1; }
    DEB=$(ls "$packaged"/*.deb | head -n 1)
fi
[[ -f $DEB ]] || { echo "not ok - $DEB is not a file"; echo "0 passed, 1 failed"; exit 1; }
[[ $(id -u) == 0 ]] || skip "needs root (debootstrap, systemd-nspawn)"
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container nsenter:util-linux pgrep:procps; do
    command -v "${tool%%:*}" >/dev/null || skip "${tool%%:*} missing (Debian package ${tool#*:})"
done

make_temp_dir gipam-systemd cleanup_systemd
trap on_term INT TERM
start_watchdog "${SYSTEMD_TIMEOUT:-600}"
ROOT=$T/root
cp "$DEB" "$T/gipam.deb" || die "cannot copy $DEB"   # it may be rebuilt while we run
[[ -n ${packaged:-} ]] && rm -rf "$packaged"
log "temp dir $T, machine $MACHINE, package $(basename "$DEB")"

mkdir "$ROOT"
if [[ -f $CACHE ]]; then
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOT" -xpf "$CACHE" || die "cannot unpack $CACHE"
    log "rootfs from $CACHE, $(( $(date +%s) - START_TS ))s"
else
    log "no $CACHE: debootstrap bookworm (about a minute)"
    # In the background: the watchdog's TERM interrupts `wait`, not a foreground command.
    setsid -w debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates \
        bookworm "$ROOT" ${GIPAM_DEBIAN_MIRROR:-} >"$T/debootstrap.log" 2>&1 &
    DEBOOTSTRAP_PID=$!
    wait "$DEBOOTSTRAP_PID"; rc=$?
    DEBOOTSTRAP_PID=""
    if (( rc != 0 )); then
        why=$(grep -Ei -m1 "couldn't download|failed getting release|resolv|unable to connect|network" "$T/debootstrap.log")
        [[ -n $why ]] && skip "debootstrap could not reach the mirror: $why"
        die "debootstrap failed" "$(tail -n 20 "$T/debootstrap.log")"
    fi
    mkdir -p "$(dirname "$CACHE")"
    if tar --numeric-owner --xattrs -C "$ROOT" -cf "$CACHE.$$" .; then mv "$CACHE.$$" "$CACHE"; else rm -f "$CACHE.$$"; fi
    log "debootstrap done, cached in $CACHE, $(( $(date +%s) - START_TS ))s"
fi

# ---------------------------------------------------------------------------
# boot: systemd-nspawn in the background. Without machined (or without systemd on the host at
# all) it cannot register the machine or ask for a scope: --register=no --keep-unit.

nspawn_args=(-D "$ROOT" -b --machine="$MACHINE" --console=passive)
if [[ -d /run/systemd/system ]] && systemctl is-active -q systemd-machined 2>/dev/null; then :
elif [[ -d /run/systemd/system ]]; then nspawn_args+=(--register=no)
else nspawn_args+=(--register=no --keep-unit)
fi
systemd-nspawn "${nspawn_args[@]}" </dev/null >"$T/console.log" 2>&1 &
NSPAWN_PID=$!
# Its PID 1 is a direct child of nspawn (CLONE_PARENT) named systemd.
for ((i = 0; i < 100; i++)); do
    CPID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n 1)
    [[ -n $CPID ]] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || die "systemd-nspawn exited" "$(cat "$T/console.log")"
    sleep 0.2
done
[[ -n $CPID ]] || die "no systemd child of systemd-nspawn after 20s" "$(cat "$T/console.log")"
# systemctl needs PID 1's private bus socket, which comes a moment after the exec.
for ((i = 0; i < 100; i++)); do CX_TIMEOUT=5 cx test -S /run/systemd/private && break; sleep 0.2; done
state=$(CX_TIMEOUT=120 cx systemctl is-system-running --wait 2>&1)
DETAIL="is-system-running: $state; failed units: $(cx systemctl --failed --no-legend 2>&1)"
check "boot: the container's systemd (host PID $CPID) reaches running or degraded" \
    eval '[[ $state == running || $state == degraded ]]'
(( FAILED == 0 )) || exit 1
[[ $state == degraded ]] && log "degraded, failed units: $(cx systemctl --failed --no-legend)"
log "booted, $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# install as README.md "As a Debian package" says: apt install ./gipam_*.deb, edit
# /etc/gipam/gipam.env, systemctl enable --now gipam.socket gipam.service

cp "$T/gipam.deb" "$ROOT/root/$(basename "$DEB")"
out=$(CX_TIMEOUT=300 cx apt-get update 2>&1) ||
    skip "apt-get update in the container failed (no network?): $(tail -n 3 <<<"$out")"
out=$(CX_TIMEOUT=300 cx sh -c "cd /root && apt-get install -y ./$(basename "$DEB")" 2>&1); rc=$?
DETAIL=$(tail -n 20 <<<"$out")
check "apt-get install ./$(basename "$DEB") (pulls the POCO libraries)" eval '(( rc == 0 ))'
(( FAILED == 0 )) || exit 1
# $EDITOR /etc/gipam/gipam.env: the shipped file sets GIPAM_V4 and has GIPAM_V6 commented out.
sed -i -e 's|^#\?GIPAM_V4=.*|GIPAM_V4=198.18.0.0/16|' -e 's|^#\?GIPAM_V6=.*|GIPAM_V6=2001:db8:100::/56|' \
    "$ROOT/etc/gipam/gipam.env"
out=$(cx systemctl enable --now gipam.socket gipam.service 2>&1); rc=$?
DETAIL=$out$'\n'$(journal_tail 20)
check "systemctl enable --now gipam.socket gipam.service" eval '(( rc == 0 ))'

# ---------------------------------------------------------------------------
# socket activation

listen=$(prop gipam.socket Listen) sstate=$(prop gipam.socket ActiveState)
DETAIL="gipam.socket ActiveState=$sstate Listen=$listen; $(cx ls -l "$SOCK" 2>&1)"
check "gipam.socket is active and listening on $SOCK" \
    eval '[[ $sstate == active && $listen == "$SOCK (Stream)" ]] && cx test -S "$SOCK"'
cx systemctl stop gipam.service 2>/dev/null
before=$(prop gipam.service ActiveState)
answer=$(plugin Plugin.Activate '')
after=$(prop gipam.service ActiveState)
DETAIL="after stop: $before; Plugin.Activate answered '$answer'; then ActiveState=$after"
check "socket activation: with gipam.service stopped, a call on the socket starts it and is answered" \
    eval '[[ $before == inactive && $answer == *IpamDriver* && $after == active ]]'

# ---------------------------------------------------------------------------
# Type=notify: with PID 1 logging at debug level, the READY=1 notification comes before the
# unit's "start -> running" change, i.e. systemctl start returns only once gipam said it is ready.

type=$(prop gipam.service Type) access=$(prop gipam.service NotifyAccess)
cx systemd-analyze set-log-level debug
cx systemctl restart gipam.service; rc=$?
state=$(prop gipam.service ActiveState) answer=$(plugin Plugin.Activate '')
cx systemd-analyze set-log-level info
mainpid=$(prop gipam.service MainPID)
notify=$(cx journalctl -u gipam.service --no-pager -o cat -n 200 |
    grep -E "Got notification message from PID $mainpid \(.*READY=1|Changed start -> running" | tail -n 2)
DETAIL="Type=$type NotifyAccess=$access StatusText=$(prop gipam.service StatusText)
restart rc=$rc, then $state; Plugin.Activate answered: $answer
$notify"
check "Type=notify: active only after gipam's READY=1, and serving at once" \
    eval '[[ $type == notify && $rc == 0 && $state == active && $answer == *IpamDriver* ]] &&
          grep -q "READY=1" <<<"$(head -n 1 <<<"$notify")" && [[ $(tail -n 1 <<<"$notify") == *"start -> running"* ]]'

# ---------------------------------------------------------------------------
# hardening: what the unit asks for, what the running process got, and gipam works under it

yes="LockPersonality MemoryDenyWriteExecute NoNewPrivileges PrivateDevices PrivateTmp ProtectClock
     ProtectControlGroups ProtectHome ProtectHostname ProtectKernelLogs ProtectKernelModules
     ProtectKernelTunables RestrictNamespaces RestrictRealtime RestrictSUIDSGID"
want=$({ printf '%s=yes\n' $yes; echo "CapabilityBoundingSet=cap_chown cap_dac_override cap_fowner"
         echo "ProtectSystem=strict"; echo "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
         echo "SystemCallArchitectures=native"; echo "UMask=0077"; } | LC_ALL=C sort)
got=$(cx systemctl show gipam.service -p "$(cut -d= -f1 <<<"$want" | paste -sd,)" | LC_ALL=C sort)
DETAIL=$(diff <(echo "$want") <(echo "$got"))
check "hardening: systemctl show has the unit's settings" eval '[[ $got == "$want" ]]'

# The process: no new privileges, a seccomp filter, only CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FOWNER
# (0xb); in its mount namespace / is read-only but its state and plugin directories are not.
status=$(cx grep -E '^(NoNewPrivs|Seccomp|CapBnd):' "/proc/$mainpid/status" | tr -s '\t' ' ')
fs=$(cx nsenter -t "$mainpid" -m sh -c 'for d in /usr /etc /var/lib/gipam /run/docker/plugins; do
        test -w $d && echo "$d rw" || echo "$d ro"; done; ls /home 2>&1 | head -n 1; ls /dev | paste -sd" "')
DETAIL="PID $mainpid: $status"$'\n'"$fs"
check "hardening in effect on gipam (PID $mainpid): NoNewPrivs, seccomp, CapBnd 0xb, read-only /usr and /etc" \
    eval '[[ $status == *"NoNewPrivs: 1"* && $status == *"Seccomp: 2"* && $status == *"CapBnd: 000000000000000b"* ]] &&
          grep -qx "/usr ro" <<<"$fs" && grep -qx "/etc ro" <<<"$fs" && grep -qx "/var/lib/gipam rw" <<<"$fs" &&
          grep -qx "/run/docker/plugins rw" <<<"$fs"'

pool_reply=$(plugin IpamDriver.RequestPool '{"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false}')
POOL=$(sed -n 's/.*"PoolID":"\([^"]*\)".*/\1/p' <<<"$pool_reply")
gw_reply=$(plugin IpamDriver.RequestAddress \
    "{\"PoolID\":\"$POOL\",\"Address\":\"\",\"Options\":{\"RequestAddressType\":\"com.docker.network.gateway\"}}")
GW=$(sed -n 's|.*"Address":"\([0-9.]*\)/[0-9]*".*|\1|p' <<<"$gw_reply")
DETAIL="RequestPool: $pool_reply"$'\n'"RequestAddress (gateway): $gw_reply"
check "under the hardening: RequestPool and the gateway's RequestAddress succeed" eval '[[ -n $POOL && -n $GW ]]'
modes=$(stat -c %a "$ROOT/var/lib/gipam" "$ROOT$LEASES" 2>&1 | paste -sd' ')
DETAIL="modes (dir, file): $modes"$'\n'"$(head -c 2000 "$ROOT$LEASES" 2>&1)"
check "lease file $LEASES (0600, directory 0700) holds pool $POOL and gateway $GW" \
    eval '[[ $modes == "700 600" ]] && pool_addrs "$ROOT$LEASES" "$POOL" | grep -qx "$GW"'

# ---------------------------------------------------------------------------
# restart under load: the client loop (load.sh) inside the container while gipam.service is
# restarted 8 times, 0.75 s apart. Every request must be answered, and no address leak.

cx systemctl reset-failed gipam.service gipam.socket   # earlier starts must not count towards the start limit
cp "$here/load.sh" "$ROOT/root/load.sh"
rm -f "$ROOT/root/load.stop"
# A transient unit of the container's systemd, not a child of nsenter: poweroff ends it cleanly.
# (An nsenter'd child orphaned by a killed nsenter lingers as a zombie of the host's PID 1 and
# stalls the container's shutdown; a live one is stopped for good by systemd-shutdown's SIGSTOP.)
cx systemd-run --quiet --collect --unit=gipam-load -p RuntimeMaxSec=90 /bin/sh -c \
    'exec bash /root/load.sh "$0" /root/load.stop 60 >/root/load.out 2>/root/load.err' "$POOL"
sleep 1
restarts="" first_bad=""   # exit codes; when the first restart failed (epoch)
for i in 1 2 3 4 5 6 7 8; do
    t=$EPOCHREALTIME; cx systemctl restart gipam.service >>"$T/restart.err" 2>&1; rc=$?
    restarts+="$rc "; (( rc != 0 )) && first_bad=${first_bad:-$t}
    log "restart $i at $t: exit $rc"; sleep 0.75
done
sleep 1
touch "$ROOT/root/load.stop"
for ((i = 0; i < 150; i++)); do cx systemctl is-active -q gipam-load || break; sleep 0.2; done
cp "$ROOT/root/load.out" "$ROOT/root/load.err" "$T/"
cx systemctl is-active -q gipam.service || cx systemctl start gipam.service 2>/dev/null   # lease file settled
nreq=$(grep -c ' OK req ' "$T/load.out") nrel=$(grep -c ' OK rel ' "$T/load.out")
nfail=$(grep -c ' FAIL ' "$T/load.out")
log "client: $nreq addresses got, $nrel released, $nfail failed requests"
if [[ -n $first_bad ]]; then   # after a failed restart the socket is down too: tell them apart
    early=$(awk -v t="$first_bad" '$2 == "FAIL" && $1 < t' "$T/load.out" | wc -l)
    log "$early failed before the first failed restart, $((nfail - early)) after it"
fi
DETAIL="first failures (curl 52: connection closed without a reply, 7: could not connect):
$(grep ' FAIL ' "$T/load.out" | head -n 8; head -n 5 "$T/load.err")
journal:
$(journal_tail 30)"
check "restart under load: no failed request ($nfail failed of $((nreq + nrel + nfail)))" \
    eval '(( nfail == 0 && nreq > 0 ))'
# What the client believes it still holds, replaying its log: got, minus released, plus those
# whose release failed. An address released with a lost reply may be granted (and released) again.
held=$(awk '$2 == "OK" && $3 == "req" || $2 == "FAIL" && $3 == "rel" { h[$4] = 1 }
            $2 == "OK" && $3 == "rel" { delete h[$4] } END { for (a in h) print a }' "$T/load.out" | sort -u)
leaked=$(pool_addrs "$ROOT$LEASES" "$POOL" | grep -vxF -e "$GW" ${held:+-e "$held"} | sort -u)
missing=$(comm -13 <(pool_addrs "$ROOT$LEASES" "$POOL" | sort -u) <(echo "$held" | sed '/^$/d'))
nleak=$(sed '/^$/d' <<<"$leaked" | wc -l)
log "lease file: $nleak leaked, $(wc -w <<<"$held") held by the client, $(wc -w <<<"$missing") of those gone"
DETAIL="leaked (in the lease file, not the gateway, not held by the client): $(head -n 10 <<<"$leaked" | paste -sd' ')"
check "restart under load: no leaked address in the lease file ($nleak)" eval '(( nleak == 0 ))'
# And nothing held was lost on the way: the gateway, held across every restart, and whatever the
# client still holds.
gw_kept=$(pool_addrs "$ROOT$LEASES" "$POOL" | grep -cxF "$GW")
DETAIL="gateway $GW in the lease file: $gw_kept; held by the client but gone: $(paste -sd' ' <<<"$missing")"
check "restart under load: nothing held was lost (the gateway, the client's addresses)" \
    eval '(( gw_kept == 1 )) && [[ -z $missing ]]'
svc=$(cx systemctl is-failed gipam.service) sock=$(prop gipam.socket ActiveState)
result=$(prop gipam.service Result)
DETAIL="gipam.service is-failed: $svc (Result=$result), gipam.socket: $sock; restart exit codes $restarts"$'\n'"$(tail -n 4 "$T/restart.err")"
check "restart under load: no start limit hit (service not failed, socket active)" \
    eval '[[ $svc != failed && $result != start-limit-hit && $sock == active ]]'
cx systemctl reset-failed gipam.service gipam.socket   # the checks below need a working unit again
cx systemctl start gipam.socket gipam.service 2>/dev/null

# ---------------------------------------------------------------------------
# LimitNOFILE: dockerd may keep many connections open. systemctl shows the hard limit as
# LimitNOFILE (524288 by systemd's default) and the soft one as LimitNOFILESoft (1024 by
# default): the soft one is what gipam gets, so both must be >= 4096, also in /proc.

hard=$(prop gipam.service LimitNOFILE) soft=$(prop gipam.service LimitNOFILESoft)
mainpid=$(prop gipam.service MainPID)
proc=$(cx grep 'Max open files' "/proc/$mainpid/limits" | awk '{ print $4, $5 }')
DETAIL="LimitNOFILE=$hard LimitNOFILESoft=$soft; /proc/$mainpid/limits soft hard: $proc"
check "LimitNOFILE: gipam.service's open-file limit (soft and hard) >= 4096" \
    eval '(( hard >= 4096 && soft >= 4096 )) && (( ${proc%% *} >= 4096 ))'

# ---------------------------------------------------------------------------
# watchdog: a durable write that hangs (a FIFO where the temp file goes: opening it blocks until
# someone reads, as a write to a hung disk does) stops gipam's pings, and systemd restarts it.
# A drop-in shortens WatchdogSec from the unit's 30 s to 4 s.

cx mkdir -p /etc/systemd/system/gipam.service.d
cx sh -c 'printf "[Service]\nWatchdogSec=4s\n" > /etc/systemd/system/gipam.service.d/watchdog.conf'
cx systemctl daemon-reload
cx systemctl restart gipam.service
before=$(prop gipam.service NRestarts) oldpid=$(prop gipam.service MainPID)
cx mkfifo /var/lib/gipam/leases.json.tmp
cx systemd-run --unit=gipam-stuck-request --quiet curl -s -m 30 --unix-socket "$SOCK" -X POST \
    http://x/IpamDriver.RequestPool -d '{"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false}'
for ((i = 0; i < 60; i++)); do
    (( $(prop gipam.service NRestarts) > before )) && break
    sleep 0.5
done
after=$(prop gipam.service NRestarts)
journal=$(cx journalctl -u gipam.service --no-pager -o cat 2>/dev/null | grep -E "stopping the watchdog|[Ww]atchdog timeout" | tail -n 4)
DETAIL="NRestarts $before -> $after, MainPID $oldpid -> $(prop gipam.service MainPID); journal: $journal"
check "watchdog: a hung durable write ends in a restart, with gipam's log line and systemd's" \
    eval '(( after > before )) && [[ $journal == *"stopping the watchdog pings"* && $journal == *"atchdog timeout"* ]]'
cx rm -f /var/lib/gipam/leases.json.tmp
for ((i = 0; i < 40; i++)); do [[ $(prop gipam.service ActiveState) == active ]] && break; sleep 0.25; done
out=$(plugin IpamDriver.RequestPool '{"AddressSpace":"gipam-local","Pool":"","SubPool":"","Options":{},"V6":false}')
DETAIL="after the disk recovered: $out"
check "watchdog: after the restart gipam serves again" eval '[[ $out == *PoolID* ]]'
cx rm -f /etc/systemd/system/gipam.service.d/watchdog.conf
cx systemctl daemon-reload

# ---------------------------------------------------------------------------
# stop

cx systemctl stop gipam.socket gipam.service 2>/dev/null
procs=$(cx sh -c 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = gipam ] && echo "${p#/proc/}"; done')
states="$(prop gipam.service ActiveState) $(prop gipam.socket ActiveState)"
DETAIL="gipam processes: ${procs:-none}; service, socket: $states"
check "systemctl stop gipam.socket gipam.service leaves no gipam process" \
    eval '[[ -z $procs && $states == "inactive inactive" ]]'

exit $(( FAILED == 0 ? 0 : 1 ))
