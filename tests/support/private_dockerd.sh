# A private dockerd for the shell tests, sourced after tap.sh (it uses log, skip, log_section, $T).
#
# dockerd runs through `unshare --mount --net --propagation private` with its own data root, exec
# root, pidfile and API socket in $T. Inside that namespace $T/run is bind-mounted over /run, so the
# host's /run/docker and /run/containerd stay untouched and dockerd starts its own containerd, and
# $T/etc over /etc/docker, so /etc/docker/plugins and key.json are the test's; its own network
# namespace keeps the test's bridges and routes off the host. Whatever runs in dockerd's mount
# namespace (containerd, shims, containers, managed plugins) was started by the test and is stopped
# by PID when dockerd is.
#
# Which dockerd: GIPAM_DOCKERD=bookworm (the default: the host's docker.io, 20.10), trixie (26.1) or
# sid (28.5). A newer one comes from a Debian rootfs (tests/support/debian_rootfs.sh, cached in
# /var/cache/gipam-tests) with docker.io, docker-cli (and etcd-server, so that the etcd tests share
# the tarball), unpacked in the scratch directory. dockerd runs chrooted in it, inside its private
# namespaces, with /proc, /sys, /dev, /run (the test's, with the plugin sockets) and the scratch
# directory bind-mounted at the same paths; the rootfs is bind-mounted onto itself first, as
# dockerd 28 remounts its /. The rootfs's docker CLI runs on the host (a Go binary needing libc
# alone), so that it reads the test's paths as they are.
#
# Order of use: dockerd_preflight; make_temp_dir; dockerd_prepare; dockerd_start_or_skip;
# dockerd_import_busybox; dc ...; and in the test's cleanup dockerd_stop, dockerd_remove_leftovers.
#
# Several dockerds in one test (tests/e2e/multihost.sh, swarm_multihost.sh): the globals below hold
# one dockerd's state ($T, DOCKERD_*, the CLI's DOCKER_HOST and DOCKER_CONFIG), and every helper
# serves the current one. Order of use: dockerd_preflight; make_temp_dir (its $T is the scratch
# directory, say ROOT); for each dockerd dockerd_add NAME $ROOT/DIR TAG [PLUGIN_SOCKETS] (instead
# of dockerd_prepare; NAME is current from then on), dockerd_start_or_skip, dockerd_import_busybox;
# then dockerd_use NAME before the helpers or dc, or dch NAME ARGS... (in a subshell: the current
# dockerd stays); in the test's cleanup, for each NAME that dockerd_known, dockerd_use NAME and
# dockerd_stop, then, all of them stopped, dockerd_remove_all_leftovers ($T is ROOT again after it).

source "$(dirname "${BASH_SOURCE[0]}")/debian_rootfs.sh"

DOCKER=${DOCKER:-}         # the docker CLI; by default /usr/bin/docker (the docker.io one)
GIPAM_DOCKERD=${GIPAM_DOCKERD:-bookworm}   # which dockerd: bookworm (the host's), trixie, sid
DOCKERD_ROOTFS=""          # the rootfs dockerd runs chrooted in (GIPAM_DOCKERD other than bookworm)
DC_TIMEOUT=60              # seconds one dc call may take
DOCKERD_TAG=""             # unique to the run: names the containerd namespaces and the cgroup parent
DOCKERD_PLUGIN_SOCKETS=""  # host directory mounted over /run/docker/plugins, if any
DOCKERD_ARGS=()
DOCKERD_PID=""             # the unshare process, which execs into dockerd
DOCKERD_MNT_NS=""          # dockerd's mount namespace (mnt:[inode])
DOCKERD_NAME=""            # with several dockerds: the current one's NAME (dockerd_add, dockerd_use)
DOCKERD_NAMES=()           # every NAME dockerd_add made, in that order
DOCKERD_ROOT=""            # $T before the first dockerd_add: the scratch directory
DOCKERD_STATE=(T DOCKERD_TAG DOCKERD_PLUGIN_SOCKETS DOCKERD_PID DOCKERD_MNT_NS DOCKER_HOST DOCKER_CONFIG)
declare -A DOCKERD_SAVED=()  # [NAME.VAR]: the globals of a dockerd while another one is current

# The docker CLI against the private dockerd, with a bound on every call.
dc() { timeout -k 5 "$DC_TIMEOUT" "$DOCKER" "$@"; }

# Processes, by PID (dockerd here, gipam in tests/e2e too).
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
wait_gone() {   # wait_gone PID SECONDS
    local p=$1 end=$((SECONDS + $2))
    while (( SECONDS < end )); do alive "$p" || return 0; sleep 0.25; done
    ! alive "$p"
}
# terminate NAME PID SECONDS: TERM, KILL if PID still runs after SECONDS, then reap it (a child)
terminate() {
    local name=$1 pid=$2 grace=$3
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" "$grace"; then
        log "$name did not stop within ${grace}s, killing it"
        kill -KILL "$pid" 2>/dev/null
        wait_gone "$pid" 5
    fi
    wait "$pid" 2>/dev/null
}

# dockerd_preflight [TOOL...]: skips (exit 77) unless this is root with dockerd, unshare, a docker
# CLI and each TOOL (a command; or /bin/busybox, which dockerd_import_busybox needs); sets DOCKER.
dockerd_preflight() {
    local t
    [[ $(id -u) == 0 ]] || skip "needs root (private dockerd in a mount namespace)"
    case $GIPAM_DOCKERD in
        bookworm) command -v dockerd >/dev/null || skip "dockerd not installed (scripts/deps test installs docker.io)" ;;
        trixie | sid) command -v chroot >/dev/null || skip "chroot (coreutils) missing" ;;
        *) echo "not ok - GIPAM_DOCKERD=$GIPAM_DOCKERD: want bookworm, trixie or sid"; echo "0 passed, 1 failed"; exit 1 ;;
    esac
    command -v unshare >/dev/null || skip "unshare (util-linux) missing"
    if [[ -z $DOCKER && $GIPAM_DOCKERD == bookworm ]]; then
        if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
        [[ -n $DOCKER ]] || skip "docker CLI missing"
    fi
    for t in "$@"; do
        if [[ $t == /bin/busybox ]]; then [[ -x $t ]] || skip "$t missing (Debian package busybox-static)"
        else command -v "$t" >/dev/null || skip "$t missing"; fi
    done
}

# dockerd_prepare TAG [PLUGIN_SOCKETS]: lays out $T for dockerd and points the docker CLI at it.
# PLUGIN_SOCKETS, a host directory, is mounted over /run/docker/plugins, where dockerd looks for
# <name>.sock, so that a plugin running on the host can put its socket there.
dockerd_prepare() {
    DOCKERD_TAG=$1 DOCKERD_PLUGIN_SOCKETS=${2:-}
    dockerd_rootfs
    mkdir -p "$T/run" "$T/etc/plugins" "$T/etc-up" "$T/etc-work" "$T/data" "$T/exec" "$T/cli"
    [[ -n $DOCKERD_PLUGIN_SOCKETS ]] && mkdir -p "$DOCKERD_PLUGIN_SOCKETS"
    echo '{}' >"$T/daemon.json"
    export DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/cli"
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

    cat >"$T/ns-init.sh" <<'EOF'
# runs inside the private mount (+net) namespace, then execs dockerd (chrooted in ROOTFS, if any)
set -e
T=$1 plugin_sockets=$2 rootfs=$3 scratch=$4; shift 4
mount --make-rprivate /
mount --bind "$T/run" /run
if [ -n "$plugin_sockets" ]; then
    mkdir -p /run/docker/plugins
    mount --bind "$plugin_sockets" /run/docker/plugins
fi
if [ ! -d /etc/docker ]; then
    # nothing to mount over: an overlay on /etc makes /etc/docker without touching the host's /etc
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/etc-up,workdir=$T/etc-work" /etc
    mkdir -p /etc/docker
fi
mount --bind "$T/etc" /etc/docker
ip link set lo up 2>/dev/null || true
[ -n "$rootfs" ] || exec "$@"
mount --bind "$rootfs" "$rootfs"
for d in /proc /sys /dev /run; do mount --rbind "$d" "$rootfs$d"; done
mkdir -p "$rootfs/etc/docker" "$rootfs$scratch"
mount --bind "$T/etc" "$rootfs/etc/docker"
mount --bind "$scratch" "$rootfs$scratch"
exec chroot "$rootfs" "$@"
EOF

    DOCKERD_ARGS=(--data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/dockerd.pid"
                  -H "unix://$T/docker.sock" --config-file "$T/daemon.json"
                  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
                  --cgroup-parent "/$DOCKERD_TAG"
                  --containerd-namespace "$DOCKERD_TAG" --containerd-plugins-namespace "$DOCKERD_TAG-plugins")
}

# dockerd_rootfs: for GIPAM_DOCKERD trixie or sid, the rootfs in the scratch directory (once per
# test, shared by its dockerds) and its docker CLI as DOCKER; tap.sh's skip where it cannot be made.
dockerd_rootfs() {
    [[ $GIPAM_DOCKERD == bookworm || -n $DOCKERD_ROOTFS ]] && return 0
    DEBIAN_ROOTFS_TMP=${DOCKERD_ROOT:-$T} debian_rootfs_or_skip "$GIPAM_DOCKERD" docker-cli docker.io etcd-server
    DOCKERD_ROOTFS=$DEBIAN_ROOTFS
    [[ -n $DOCKER ]] || DOCKER=$DOCKERD_ROOTFS/usr/bin/docker
    log "dockerd of $GIPAM_DOCKERD: $(chroot "$DOCKERD_ROOTFS" dockerd --version 2>&1), chrooted in $DOCKERD_ROOTFS"
}

# dockerd_add NAME DIR TAG [PLUGIN_SOCKETS]: a further dockerd NAME, current from now on, laid out
# in DIR (made here) as dockerd_prepare TAG PLUGIN_SOCKETS does in $T.
dockerd_add() {
    (( ${#DOCKERD_NAMES[@]} )) || DOCKERD_ROOT=$T
    dockerd_save
    DOCKERD_NAMES+=("$1")
    DOCKERD_NAME=$1 T=$2 DOCKERD_PID="" DOCKERD_MNT_NS=""
    mkdir -p "$T"
    dockerd_prepare "$3" "${4:-}"
}
# dockerd_use NAME: the globals are those of dockerd NAME from now on (1, nothing changed: no such NAME)
dockerd_use() {
    local v
    [[ $1 == "$DOCKERD_NAME" ]] && return 0
    dockerd_known "$1" || return 1
    dockerd_save
    DOCKERD_NAME=$1
    for v in "${DOCKERD_STATE[@]}"; do printf -v "$v" '%s' "${DOCKERD_SAVED[$1.$v]}"; done
    eval "DOCKERD_ARGS=(${DOCKERD_SAVED[$1.args]})"
}
dockerd_save() {   # the current dockerd's globals into DOCKERD_SAVED, if it has a NAME
    local v
    [[ -n $DOCKERD_NAME ]] || return 0
    for v in "${DOCKERD_STATE[@]}"; do DOCKERD_SAVED[$DOCKERD_NAME.$v]=${!v}; done
    DOCKERD_SAVED[$DOCKERD_NAME.args]=$(printf '%q ' "${DOCKERD_ARGS[@]}")
}
# dockerd_known NAME: dockerd_add made dockerd NAME
dockerd_known() { [[ $1 == "$DOCKERD_NAME" || -n ${DOCKERD_SAVED[$1.T]+set} ]]; }
# dch NAME ARGS...: dc ARGS against dockerd NAME, in a subshell (the current dockerd stays current)
dch() { ( dockerd_use "$1"; dc "${@:2}" ); }

# Starts dockerd (log in $T/dockerd.log) and waits up to 40s for its API; fails if it exits first.
dockerd_start() {
    local end=$((SECONDS + 40))
    unshare --mount --net --propagation private \
        bash "$T/ns-init.sh" "$T" "$DOCKERD_PLUGIN_SOCKETS" "$DOCKERD_ROOTFS" "${DOCKERD_ROOT:-$T}" \
        dockerd "${DOCKERD_ARGS[@]}" >>"$T/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    while (( SECONDS < end )); do
        alive "$DOCKERD_PID" || { DOCKERD_PID=""; return 1; }
        if timeout 5 "$DOCKER" version >/dev/null 2>&1; then
            DOCKERD_MNT_NS=$(readlink "/proc/$DOCKERD_PID/ns/mnt" 2>/dev/null)
            return 0
        fi
        sleep 0.25
    done
    return 1
}
dockerd_start_or_skip() {
    dockerd_start && return 0
    tail -n 20 "$T/dockerd.log" | log_section "dockerd log (last 20 lines)"
    skip "dockerd could not be started in a private namespace"
}
dockerd_restart() { dockerd_stop; dockerd_start; }

# Stops dockerd (TERM, KILL after 30s), then whatever is left in its mount namespace.
dockerd_stop() {
    alive "$DOCKERD_PID" && terminate dockerd "$DOCKERD_PID" 30
    dockerd_kill_leftovers
    DOCKERD_PID=""
}

# PIDs in dockerd's mount namespace: all started by this test (never our own namespace's).
dockerd_ns_pids() {
    [[ -n $DOCKERD_MNT_NS && $DOCKERD_MNT_NS != "$(readlink /proc/$$/ns/mnt)" ]] || return 0
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$DOCKERD_MNT_NS" ]] && echo "${p#/proc/}"
    done
}
dockerd_kill_leftovers() {   # TERM, KILL after 5s
    local pids i
    pids=$(dockerd_ns_pids)
    [[ -z $pids ]] && return 0
    log "killing leftover processes in dockerd's namespace: $(echo $pids)"
    kill -TERM $pids 2>/dev/null
    for ((i = 0; i < 20; i++)); do
        pids=$(dockerd_ns_pids); [[ -z $pids ]] && return 0; sleep 0.25
    done
    kill -KILL $pids 2>/dev/null
    sleep 0.5
}

# After dockerd_stop: mounts under $T still visible here (dockerd's own lived in its namespace and
# went with it; this catches leaks) and runc's cgroups below the cgroup parent DOCKERD_TAG.
dockerd_remove_leftovers() {
    local m
    for m in $(awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    [[ -n $DOCKERD_TAG ]] && remove_cgroups "$DOCKERD_TAG"
    [[ $GIPAM_DOCKERD == bookworm ]] || DEBIAN_ROOTFS_TMP=${DOCKERD_ROOT:-$T} debian_rootfs_cleanup
}
# dockerd_remove_all_leftovers: with several dockerds, all stopped: dockerd_remove_leftovers for
# each one dockerd_add made; then no dockerd is current and $T is the scratch directory again.
dockerd_remove_all_leftovers() {
    local n
    for n in "${DOCKERD_NAMES[@]}"; do dockerd_use "$n"; dockerd_remove_leftovers; done
    (( ${#DOCKERD_NAMES[@]} )) || return 0
    dockerd_save
    DOCKERD_NAME="" T=$DOCKERD_ROOT
}
remove_cgroups() {   # remove_cgroups NAME: every cgroup directory called NAME, with its children
    local d
    find /sys/fs/cgroup -maxdepth 6 -type d -name "$1" 2>/dev/null | while read -r d; do
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
}

# dockerd_import_busybox IMAGE APPLET...: imports /bin/busybox with links for the APPLETs as IMAGE
# and runs `true` in it. Skips (exit 77) where dockerd cannot run a container at all: then no
# check could say anything about gipam.
dockerd_import_busybox() {
    local image=$1 rootfs=$T/rootfs applet out; shift
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in "$@"; do ln -s busybox "$rootfs/bin/$applet"; done
    out=$(tar -C "$rootfs" -c . | dc import - "$image" 2>&1) || skip "docker import failed: $out"
    out=$(dc run --rm --network none "$image" true 2>&1) || skip "dockerd cannot run a container here: $out"
}

# require_gipam_bin: GIPAM_BIN must be an executable (usage, exit 1 without one; fails the run if it
# is not executable), and is made absolute.
require_gipam_bin() {
    [[ -n $GIPAM_BIN ]] || { echo "usage: $0 /path/to/gipam" >&2; exit 1; }
    [[ -x $GIPAM_BIN ]] || { echo "not ok - gipam binary $GIPAM_BIN is not executable"; echo "0 passed, 1 failed"; exit 1; }
    GIPAM_BIN=$(readlink -f "$GIPAM_BIN")
}

# require_plugin_dir: PLUGIN_DIR must hold a managed plugin (config.json, rootfs with gipam); fails
# the run otherwise, and makes PLUGIN_DIR absolute.
require_plugin_dir() {
    [[ -n $PLUGIN_DIR ]] || { echo "usage: $0 BUILD/managed-plugin" >&2; exit 1; }
    if [[ ! -f $PLUGIN_DIR/config.json || ! -x $PLUGIN_DIR/rootfs/usr/bin/gipam ]]; then
        echo "not ok - $PLUGIN_DIR holds no managed plugin (cmake --build BUILD --target managed-plugin)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    PLUGIN_DIR=$(readlink -f "$PLUGIN_DIR")
}

# dockerd_remove_containers: every container of the private dockerd, if it still runs.
dockerd_remove_containers() {
    alive "$DOCKERD_PID" || return 0
    local cs; cs=$(timeout 20 "$DOCKER" ps -aq 2>/dev/null)
    [[ -n $cs ]] && timeout -k 5 40 "$DOCKER" rm -f $cs >/dev/null 2>&1
    return 0
}
