#!/usr/bin/env bash
# The Docker managed plugin (cmake --build build --target managed-plugin) under a real, private
# dockerd: docker plugin create / set / enable, a network from its supernets, the lease file on
# the host mount, then network rm, plugin disable and rm.
#
#   bash tests/packaging/managed_plugin.sh BUILD/managed-plugin
#
# Exit status: 0 all checks passed, 1 a check failed, 77 dockerd cannot run here ("SKIP: reason").
#
# Like tests/e2e/run.sh, dockerd runs in its own mount and network namespace (unshare) with its own
# data root, exec root and API socket in one mktemp -d directory; $T/run is bind-mounted over /run
# there, so the host's /run/docker and /run/containerd stay untouched and dockerd starts its own
# containerd, which runs the plugin with runc. Everything is removed again by PID at the end.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), PLUGIN_KEEP=1 keeps the temp dir.

set -u -o pipefail

START_TS=$(date +%s)
PLUGIN_DIR=${1:-}
PLUGIN=gipam                      # as the README has it; the dockerd is private, so no clash
DRIVER=$PLUGIN:latest             # the name a managed plugin registers its IPAM driver under
V4_SUPER=198.18.0.0/16            # as in README.md; config.json sets no IPv6 supernet, so a
V6_SUPER=2001:db8:100::/56        # network with an IPv6 pool shows that `docker plugin set` works
NS_TAG="gipam-plugin-$$"

PASSED=0 FAILED=0
T="" DPID="" DNS="" WATCHDOG="" PLUGIN_ID=""
DOCKER=${DOCKER:-}

log()  { printf '# %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
pass() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    printf 'not ok - %s\n' "$1"
    shift
    local l
    for l in "$@"; do printf '%s\n' "$l" | sed 's/^/#   /'; done
}
dc() { timeout -k 5 90 "$DOCKER" "$@"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
wait_gone() {   # wait_gone PID SECONDS
    local p=$1 end=$((SECONDS + $2))
    while (( SECONDS < end )); do alive "$p" || return 0; sleep 0.25; done
    ! alive "$p"
}

# IPv4/IPv6 "is ADDR/LEN inside CIDR" in pure bash
ip6_hex() {   # 2001:db8::1 -> 20010db8000000000000000000000001
    local a=${1,,} head tail IFS=: g out="" n i
    local -a hg=() tg=()
    if [[ $a == *::* ]]; then head=${a%%::*}; tail=${a#*::}; else head=$a; tail=""; fi
    [[ -n $head ]] && read -r -a hg <<<"$head"
    [[ -n $tail ]] && read -r -a tg <<<"$tail"
    n=$(( 8 - ${#hg[@]} - ${#tg[@]} ))
    for g in "${hg[@]}"; do out+=$(printf '%04x' "0x${g:-0}"); done
    for ((i = 0; i < n; i++)); do out+=0000; done
    for g in "${tg[@]}"; do out+=$(printf '%04x' "0x${g:-0}"); done
    echo "$out"
}
ip4_int() { local IFS=. a b c d; read -r a b c d <<<"$1"; echo $(( (a << 24) | (b << 16) | (c << 8) | d )); }
inside() {    # inside SUBNET SUPERNET: SUBNET is a longer-or-equal prefix within SUPERNET
    local sub=$1 super=$2 len=${2#*/}
    [[ $sub == */* ]] && (( ${sub#*/} >= len )) || return 1
    local ip=${sub%/*} net=${super%/*}
    if [[ $net == *:* ]]; then
        [[ $ip == *:* ]] || return 1
        local a b k=$(( len / 4 )) r=$(( len % 4 ))
        a=$(ip6_hex "$ip"); b=$(ip6_hex "$net")
        [[ ${a:0:k} == "${b:0:k}" ]] || return 1
        (( r == 0 )) || (( (0x${a:k:1} >> (4 - r)) == (0x${b:k:1} >> (4 - r)) ))
    else
        [[ $ip != *:* ]] || return 1
        local mask=$(( len == 0 ? 0 : (0xffffffff << (32 - len)) & 0xffffffff ))
        (( ($(ip4_int "$ip") & mask) == ($(ip4_int "$net") & mask) ))
    fi
}

# Processes in dockerd's mount namespace (containerd, shims, gipam): all started by this test.
ns_pids() {
    [[ -n $DNS && $DNS != "$(readlink /proc/$$/ns/mnt)" ]] || return 0
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$DNS" ]] && echo "${p#/proc/}"
    done
}
kill_ns_leftovers() {
    local pids i
    pids=$(ns_pids)
    [[ -z $pids ]] && return 0
    log "killing leftover processes in dockerd's namespace: $(echo $pids)"
    kill -TERM $pids 2>/dev/null
    for ((i = 0; i < 20; i++)); do pids=$(ns_pids); [[ -z $pids ]] && return 0; sleep 0.25; done
    kill -KILL $pids 2>/dev/null
    sleep 0.5
}
start_dockerd() {
    local end=$((SECONDS + 40))
    unshare --mount --net --propagation private \
        bash "$T/ns-init.sh" "$T" dockerd "${DARGS[@]}" >>"$T/dockerd.log" 2>&1 &
    DPID=$!
    while (( SECONDS < end )); do
        alive "$DPID" || { DPID=""; return 1; }
        if timeout 5 "$DOCKER" version >/dev/null 2>&1; then
            DNS=$(readlink "/proc/$DPID/ns/mnt" 2>/dev/null)
            return 0
        fi
        sleep 0.25
    done
    return 1
}
stop_dockerd() {
    if alive "$DPID"; then
        kill -TERM "$DPID" 2>/dev/null
        wait_gone "$DPID" 30 || { log "dockerd did not stop within 30s, killing it"; kill -KILL "$DPID" 2>/dev/null; wait_gone "$DPID" 5; }
        wait "$DPID" 2>/dev/null
    fi
    kill_ns_leftovers
    DPID=""
}

remove_cgroups() {   # remove_cgroups NAME: every cgroup directory called NAME, with its children
    local d
    find /sys/fs/cgroup -maxdepth 6 -type d -name "$1" 2>/dev/null | while read -r d; do
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [[ -n $WATCHDOG ]]; then kill -TERM "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; fi
    if [[ -n $T && -d $T ]]; then
        if alive "$DPID"; then   # what a failed check left behind
            dc network rm net1 >/dev/null 2>&1
            dc plugin disable -f "$PLUGIN" >/dev/null 2>&1
            dc plugin rm -f "$PLUGIN" >/dev/null 2>&1
        fi
        stop_dockerd
        if (( FAILED > 0 || rc != 0 )) && [[ $rc != 77 && -s $T/dockerd.log ]]; then
            echo "# ---- dockerd log: errors, warnings and the plugin's output (last 60) ----"
            grep -E 'level=(error|warning|fatal)|plugin=' "$T/dockerd.log" | tail -n 60 | sed 's/^/#   /'
        fi
        local m
        for m in $(awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
            umount -l "$m" 2>/dev/null
        done
        # runc's cgroups (normally removed already): the probe container's parent and the plugin's
        # own, named by its ID; both below dockerd's cgroup in some hierarchies
        remove_cgroups "$NS_TAG"
        [[ $PLUGIN_ID =~ ^[0-9a-f]{64}$ ]] && remove_cgroups "$PLUGIN_ID"
        if [[ ${PLUGIN_KEEP:-0} == 1 ]]; then echo "# kept $T"; else rm -rf --one-file-system "$T"; fi
    fi
    if (( rc != 77 )); then
        (( rc != 0 && FAILED == 0 )) && fail "harness: run aborted (exit $rc)"
        echo "# elapsed $(( $(date +%s) - START_TS ))s"
        echo "$PASSED passed, $FAILED failed"
        (( FAILED > 0 && rc == 0 )) && rc=1
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------
# preflight

[[ -n $PLUGIN_DIR ]] || { echo "usage: $0 BUILD/managed-plugin" >&2; exit 1; }
if [[ ! -f $PLUGIN_DIR/config.json || ! -x $PLUGIN_DIR/rootfs/usr/bin/gipam ]]; then
    echo "not ok - $PLUGIN_DIR holds no managed plugin (cmake --build BUILD --target managed-plugin)"
    echo "0 passed, 1 failed"
    exit 1
fi
PLUGIN_DIR=$(readlink -f "$PLUGIN_DIR")
[[ $(id -u) == 0 ]] || skip "needs root (private dockerd in a mount namespace)"
command -v dockerd >/dev/null || skip "dockerd not installed (scripts/deps test installs docker.io)"
command -v unshare >/dev/null || skip "unshare (util-linux) missing"
if [[ -z $DOCKER ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
fi
[[ -n $DOCKER ]] || skip "docker CLI missing"

# The rootfs: gipam, exactly the libraries ldd names for it and the loader, and nothing else.
rootfs=$PLUGIN_DIR/rootfs
wanted=$( (echo /usr/bin/gipam; ldd "$rootfs/usr/bin/gipam" |
           awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }') | sort)
present=$(cd "$rootfs" && find . -type f | sed 's/^\.//' | sort)
if [[ $wanted == "$present" ]]; then
    pass "rootfs holds gipam, the $(( $(wc -l <<<"$wanted") - 1 )) files ldd names for it, nothing else"
else
    fail "rootfs holds gipam, the files ldd names for it, nothing else" \
        "wanted:"$'\n'"$wanted" "present:"$'\n'"$present"
fi
if out=$(chroot "$rootfs" /usr/bin/gipam --version 2>&1); then pass "chroot rootfs /usr/bin/gipam --version: $out"
else fail "chroot rootfs /usr/bin/gipam --version" "$out"; fi

T=$(mktemp -d /tmp/gipam-plugin.XXXXXX) || { echo "mktemp failed"; exit 1; }
trap cleanup EXIT
trap 'exit 1' INT TERM
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "${PLUGIN_TIMEOUT:-240}" & sp=$!
    wait "$sp"
    echo "# watchdog: run exceeded ${PLUGIN_TIMEOUT:-240}s, aborting"
    kill -TERM $$
) &
WATCHDOG=$!

mkdir -p "$T/run" "$T/etc/plugins" "$T/etc-up" "$T/etc-work" "$T/data" "$T/exec" "$T/cli"
mkdir -p -m 0700 "$T/state"   # stands for /var/lib/gipam
echo '{}' >"$T/daemon.json"
export DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/cli"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

cat >"$T/ns-init.sh" <<'EOF'
# runs inside the private mount (+net) namespace, then execs dockerd
set -e
T=$1; shift
mount --make-rprivate /
mount --bind "$T/run" /run
if [ ! -d /etc/docker ]; then
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/etc-up,workdir=$T/etc-work" /etc
    mkdir -p /etc/docker
fi
mount --bind "$T/etc" /etc/docker
ip link set lo up 2>/dev/null || true
exec "$@"
EOF

DARGS=(--data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/dockerd.pid"
       -H "unix://$T/docker.sock" --config-file "$T/daemon.json"
       --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
       --cgroup-parent "/$NS_TAG"
       --containerd-namespace "$NS_TAG" --containerd-plugins-namespace "$NS_TAG-plugins")

if ! start_dockerd; then
    echo "# ---- dockerd log (last 20 lines) ----"
    tail -n 20 "$T/dockerd.log" | sed 's/^/#   /'
    skip "dockerd could not be started in a private namespace"
fi
# Can this machine run a container at all? If not, a failing plugin would say nothing about gipam.
if [[ -x /bin/busybox ]]; then
    mkdir -p "$T/probe/bin"
    cp /bin/busybox "$T/probe/bin/busybox" && ln -s busybox "$T/probe/bin/true"
    out=$(tar -C "$T/probe" -c . | dc import - gipam-probe:latest 2>&1) || skip "docker import failed: $out"
    out=$(dc run --rm --network none gipam-probe:latest true 2>&1) || skip "dockerd cannot run a container here: $out"
    dc rmi gipam-probe:latest >/dev/null 2>&1
fi
log "dockerd up (pid $DPID) in $T, $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# the commands of README.md, "Installing" / "As a Docker managed plugin"

out=$(dc plugin create "$PLUGIN" "$PLUGIN_DIR" 2>&1)
if [[ $? -ne 0 ]]; then
    fail "docker plugin create $PLUGIN $PLUGIN_DIR" "$out"
    exit 1
fi
pass "docker plugin create $PLUGIN from the assembled directory"
PLUGIN_ID=$(dc plugin inspect -f '{{.Id}}' "$PLUGIN" 2>/dev/null)

out=$(dc plugin set "$PLUGIN" state.source="$T/state" GIPAM_V4="$V4_SUPER" GIPAM_V6="$V6_SUPER" 2>&1)
if [[ $? -ne 0 ]]; then fail "docker plugin set state.source, GIPAM_V4, GIPAM_V6" "$out"; exit 1; fi
pass "docker plugin set state.source, GIPAM_V4, GIPAM_V6"

out=$(dc plugin enable "$PLUGIN" 2>&1)
if [[ $? -ne 0 ]]; then
    # the plugin's own output is in dockerd's log
    fail "docker plugin enable $PLUGIN" "$out" "$(grep -E "plugin=$PLUGIN_ID|$PLUGIN_ID" "$T/dockerd.log" | tail -n 15)"
    exit 1
fi
enabled=$(dc plugin inspect -f '{{.Enabled}}' "$PLUGIN" 2>&1)
if [[ $enabled == true ]]; then pass "docker plugin enable $PLUGIN: enabled"
else fail "docker plugin enable $PLUGIN: enabled" "inspect says: $enabled"; fi

out=$(dc network create --ipam-driver "$DRIVER" --ipv6 net1 2>&1)
if [[ $? -ne 0 ]]; then
    fail "docker network create --ipam-driver $DRIVER --ipv6 net1" "$out"
else
    pass "docker network create --ipam-driver $DRIVER --ipv6 net1"
    subnets=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' net1 2>&1)
    n4="" n6=""
    for s in $subnets; do if [[ $s == *:* ]]; then n6=$s; else n4=$s; fi; done
    if inside "$n4" "$V4_SUPER" && [[ ${n4#*/} == 24 ]] && inside "$n6" "$V6_SUPER" && [[ ${n6#*/} == 64 ]]; then
        pass "net1 has a /24 from $V4_SUPER ($n4) and a /64 from $V6_SUPER ($n6)"
    else
        fail "net1 has a /24 from $V4_SUPER and a /64 from $V6_SUPER" "IPAM config: $subnets"
    fi
    if grep -qF "\"$n4\"" "$T/state/leases.json" 2>/dev/null && grep -qF "\"$n6\"" "$T/state/leases.json"; then
        pass "the lease file on the host mount ($T/state/leases.json) holds both pools"
    else
        fail "the lease file on the host mount holds both pools" \
            "$(ls -l "$T/state" 2>&1)" "$(head -c 2000 "$T/state/leases.json" 2>&1)"
    fi
    out=$(dc network rm net1 2>&1)
    if [[ $? -ne 0 ]]; then
        fail "docker network rm net1" "$out"
    elif grep -qF "\"$n4\"" "$T/state/leases.json" || grep -qF "\"$n6\"" "$T/state/leases.json"; then
        fail "docker network rm net1 releases both pools" "$(head -c 2000 "$T/state/leases.json")"
    else
        pass "docker network rm net1 releases both pools in the lease file"
    fi
fi

out=$(dc plugin disable "$PLUGIN" 2>&1)
if [[ $? -ne 0 ]]; then fail "docker plugin disable $PLUGIN" "$out"; else pass "docker plugin disable $PLUGIN"; fi
out=$(dc plugin rm "$PLUGIN" 2>&1)
if [[ $? -ne 0 ]]; then fail "docker plugin rm $PLUGIN" "$out"
elif [[ -n $(dc plugin ls -q 2>&1) ]]; then fail "docker plugin rm $PLUGIN leaves no plugin" "$(dc plugin ls 2>&1)"
else pass "docker plugin rm $PLUGIN"; fi
if [[ -s $T/state/leases.json ]]; then pass "the lease file outlives the plugin"
else fail "the lease file outlives the plugin" "$(ls -l "$T/state" 2>&1)"; fi

exit $(( FAILED == 0 ? 0 : 1 ))
