# Debian rootfs directories (and an etcd binary out of one) for the tests, sourced by them (after
# tap.sh when they report TAP; it is not needed). Needs root, debootstrap, tar and flock.
#
#   debian_rootfs SUITE [PACKAGE...]     prints the path of a rootfs directory of Debian SUITE
#                                        (trixie, sid, any suite debootstrap knows) with PACKAGEs
#                                        installed: debootstrap --variant=minbase --include=...
#   debian_rootfs_or_skip SUITE [PACKAGE...]   the same in the test's own shell: sets DEBIAN_ROOTFS,
#                                        prints nothing; tap.sh's skip (exit 77) when it cannot run
#                                        here, its fail and exit 1 when it broke
#   debian_rootfs_cleanup                from the test's cleanup, before it removes the temp dir:
#                                        stops a debootstrap still running, unmounts whatever is
#                                        mounted in the rootfs directories, removes partial ones
#   etcd_binary SUITE|VERSION            prints the path of an etcd binary that runs on the host
#                                        (not in a chroot): SUITE's etcd-server (trixie, sid), or
#                                        etcd VERSION (3.5, 3.5.16) from trixie, else from sid.
#                                        Debian's etcd is a Go binary linked to libc alone (glibc
#                                        2.34 symbols): it runs on bookworm as it is
#
# Where the directory goes: under $DEBIAN_ROOTFS_TMP, by default tap.sh's $T (make_temp_dir), as
# $DEBIAN_ROOTFS_TMP/rootfs-NAME. The caller owns it: removing $T (rm -rf --one-file-system, as
# tap.sh does, after debian_rootfs_cleanup) removes it. Calling again with the same SUITE and
# PACKAGEs returns the same directory, as it is now (remove it first for a pristine copy).
#
# The cache: $GIPAM_ROOTFS_CACHE_DIR (default /var/cache/gipam-tests) holds NAME.tar, NAME being
# SUITE and the PACKAGEs sorted, joined by "-": debian_rootfs trixie etcd-server docker.io makes
# trixie-docker.io-etcd-server.tar. The first call debootstraps (a minute or more) and writes the
# tarball (NAME.tar.tmp.PID, then renamed); every later one only unpacks it (seconds). NAME.tar.lock
# (flock) lets one test debootstrap while another calling for the same NAME waits for its tarball.
# Nothing refreshes a tarball: delete it to get today's SUITE (sid moves). The .debs debootstrap
# installed are not kept (var/cache/apt/archives is empty). etcd_binary extracts usr/bin/etcd* (etcd,
# etcdutl) once, out of a cached tarball of SUITE with etcd-server (or a new debian_rootfs SUITE
# etcd-server), into etcd-X.Y.Z/ (with VERSION and SOURCE files), and links etcd-SUITE and etcd-X.Y
# to it: etcd_binary sid prints .../etcd-X.Y.Z/etcd, etcd_binary 3.5 prints .../etcd-3.5/etcd.
#
# debootstrap installs Depends, not Recommends. In trixie as in sid, docker.io is dockerd (with
# containerd, runc, tini, iptables); the docker client is docker-cli, a Recommends: ask for both.
# The debootstrap log is $DEBIAN_ROOTFS_TMP/debootstrap-NAME.log.
#
# Exit status of debian_rootfs and etcd_binary: 0 done, 77 cannot run here (not root, debootstrap
# missing, the mirror unreachable), 1 broke, 2 bad arguments. The reason is on stderr ("# " lines)
# and, in the caller's shell, in DEBIAN_ROOTFS_WHY.
#
# Waiting: ROOT=$(debian_rootfs ...) works, but bash runs no trap while a command substitution is
# under way, so a watchdog's TERM (tap.sh's start_watchdog) waits for debootstrap to end. In the
# test's own shell (debian_rootfs_or_skip, or DEBIAN_ROOTFS_QUIET=1 debian_rootfs ...; then
# $DEBIAN_ROOTFS) debootstrap runs in its own process group (setsid) while the shell `wait`s: the
# TERM interrupts the wait, and debian_rootfs_cleanup in the test's cleanup ends it. (Not
# debian_rootfs >/dev/null: the trap, and tap.sh's summary with it, would run with that stdout.)
#
# Environment knobs (all optional):
#   GIPAM_ROOTFS_CACHE_DIR=/var/cache/gipam-tests  the tarballs, and etcd_binary's binaries
#   GIPAM_DEBIAN_MIRROR=URL   debootstrap's mirror (default: debootstrap's own, deb.debian.org)
#   DEBIAN_ROOTFS_TMP=DIR     where the rootfs directories go (default: $T)
#   DEBIAN_ROOTFS_QUIET=1     debian_rootfs sets DEBIAN_ROOTFS without printing it
#
# Run as a script, it calls one of the functions: bash tests/support/debian_rootfs.sh etcd_binary
# 3.5 (the C++ and Python tests); for debian_rootfs set DEBIAN_ROOTFS_TMP.

DEBIAN_ROOTFS=""            # the path the last debian_rootfs printed
DEBIAN_ROOTFS_WHY=""        # why the last debian_rootfs or etcd_binary failed
DEBIAN_ROOTFS_DEBOOTSTRAP_PID=""   # debootstrap, in its own process group (session)
_DR_MADE_TMP=""             # etcd_binary's own temp dir, while it debootstraps without a caller's

_dr_log() { printf '# %s\n' "$*" >&2; }
# _dr_fail STATUS REASON [DETAIL]: DEBIAN_ROOTFS_WHY=REASON, both on stderr; returns STATUS
_dr_fail() {
    DEBIAN_ROOTFS_WHY=$2
    _dr_log "$2"
    [[ -n ${3:-} ]] && printf '%s\n' "$3" | sed 's/^/#   /' >&2
    return "$1"
}
_dr_cache_dir() { printf '%s\n' "${GIPAM_ROOTFS_CACHE_DIR:-/var/cache/gipam-tests}"; }

# _dr_lock VAR FILE: an exclusive flock on FILE (created), held on a new file descriptor of the
# caller's shell, its number in VAR, until _dr_unlock VAR. Waits in steps of a second, so that a
# trap runs between them, and says once that it waits. (Not in a command substitution: its shell's
# descriptor, and the lock, would go with it.)
_dr_lock() {
    local -n _dr_fd=$1
    local file=$2 rc said=0
    exec {_dr_fd}>>"$file" || { _dr_fail 1 "cannot open the lock $file"; return; }
    while :; do
        flock -x -w 1 -E 75 "$_dr_fd"; rc=$?
        (( rc == 0 )) && return 0
        if (( rc != 75 )); then _dr_unlock "$1"; _dr_fail 1 "flock $file failed (exit $rc)"; return; fi
        (( said++ == 0 )) && _dr_log "waiting for $file: another test holds it"
    done
}
_dr_unlock() { local -n _dr_fd=$1; exec {_dr_fd}>&-; }

# _dr_umount_under PREFIX: unmounts every mount point whose path starts with PREFIX, deepest first
# (debootstrap mounts proc, sys, dev/pts... in the target; rm --one-file-system stops at them)
_dr_umount_under() {
    awk -v r="$1" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r -n 1 umount -l
}

_dr_stop_debootstrap() {
    local pid=${DEBIAN_ROOTFS_DEBOOTSTRAP_PID:-}
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid"; sleep 1; kill -KILL -- "-$pid" 2>/dev/null
    fi
    DEBIAN_ROOTFS_DEBOOTSTRAP_PID=""
}

debian_rootfs_cleanup() {
    local tmp=${DEBIAN_ROOTFS_TMP:-${T:-}} d
    _dr_stop_debootstrap
    if [[ -n $_DR_MADE_TMP && -d $_DR_MADE_TMP ]]; then
        _dr_umount_under "$_DR_MADE_TMP/"; rm -rf --one-file-system "$_DR_MADE_TMP"
    fi
    _DR_MADE_TMP=""
    [[ -n $tmp && -d $tmp ]] || return 0
    _dr_umount_under "$tmp/rootfs-"
    for d in "$tmp"/rootfs-*.build "$tmp"/rootfs-*.part; do
        [[ -e $d ]] && rm -rf --one-file-system "$d"
    done
    return 0
}

# _dr_installed ROOT PACKAGE...: the PACKAGEs not installed in ROOT's dpkg status, one a line
_dr_installed() {
    local root=$1; shift
    awk -v want="$*" '
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) missing[w[i]] = 1 }
        /^Package: / { p = $2 }
        /^Status: / && $0 == "Status: install ok installed" { delete missing[p] }
        END { for (p in missing) print p }' "$root/var/lib/dpkg/status" 2>/dev/null
}

# _dr_unpack TAR DIR: TAR unpacked into DIR.part, renamed DIR
_dr_unpack() {
    local tar=$1 dir=$2 start=$SECONDS out
    rm -rf --one-file-system "$dir.part"
    mkdir -p "$dir.part" || { _dr_fail 1 "cannot make $dir.part"; return; }
    if ! out=$(tar --numeric-owner --xattrs --xattrs-include='*' -C "$dir.part" -xpf "$tar" 2>&1); then
        rm -rf --one-file-system "$dir.part"
        _dr_fail 1 "cannot unpack $tar" "$out"; return
    fi
    mv -T "$dir.part" "$dir" || { _dr_fail 1 "cannot rename $dir.part to $dir"; return; }
    _dr_log "rootfs $dir from $tar, $((SECONDS - start))s"
}

# _dr_debootstrap SUITE DIR TAR PACKAGE...: debootstrap into DIR.build, checks that the PACKAGEs are
# installed, writes TAR (TAR.tmp.PID, renamed), renames DIR.build DIR. With TAR's lock held.
_dr_debootstrap() {
    local suite=$1 dir=$2 tar=$3; shift 3
    local build=$dir.build log=${dir%/*}/debootstrap-${dir##*/rootfs-}.log start=$SECONDS rc why missing include=""
    (( $# )) && include="--include=$(IFS=,; echo "$*")"
    rm -f "$tar".tmp.*   # a killed run's; nobody else writes them while we hold the lock
    rm -rf --one-file-system "$build"
    mkdir -p "$build" || { _dr_fail 1 "cannot make $build"; return; }
    _dr_log "no $tar: debootstrap $suite${*:+ with $*} (a minute or more), log $log"
    # In the background: a TERM interrupts `wait`, not a foreground command.
    setsid -w debootstrap --variant=minbase $include "$suite" "$build" ${GIPAM_DEBIAN_MIRROR:-} \
        >"$log" 2>&1 </dev/null &
    DEBIAN_ROOTFS_DEBOOTSTRAP_PID=$!
    wait "$DEBIAN_ROOTFS_DEBOOTSTRAP_PID"; rc=$?
    DEBIAN_ROOTFS_DEBOOTSTRAP_PID=""
    _dr_umount_under "$build/"
    if (( rc != 0 )); then
        rm -rf --one-file-system "$build"
        # Not run.sh's bare "resolv": debootstrap logs "I: Resolving dependencies..." every time.
        why=$(grep -Ei -m1 "couldn't download|failed getting release|name resolution|unable to resolve|unable to connect|network is unreachable|connection (timed out|refused)" "$log")
        [[ -n $why ]] && { _dr_fail 77 "debootstrap could not reach the mirror: $why"; return; }
        _dr_fail 1 "debootstrap $suite failed (exit $rc)" "$(tail -n 20 "$log")"; return
    fi
    missing=$(_dr_installed "$build" "$@")
    if [[ -n $missing ]]; then
        rm -rf --one-file-system "$build"
        _dr_fail 1 "debootstrap $suite left out: $(paste -sd" " <<<"$missing")" "$(tail -n 20 "$log")"; return
    fi
    _dr_log "debootstrap $suite done, $((SECONDS - start))s"
    # debootstrap leaves the .debs it installed (100 MB and more): apt-get clean's work
    find "$build/var/cache/apt/archives" -maxdepth 1 -type f -name '*.deb' -delete
    if ! tar --numeric-owner --xattrs --xattrs-include='*' --one-file-system -C "$build" \
            -cf "$tar.tmp.$$" . 2>"$log.tar"; then
        rm -f "$tar.tmp.$$"
        _dr_fail 1 "cannot write $tar.tmp.$$" "$(tail -n 5 "$log.tar")"; return
    fi
    mv -f "$tar.tmp.$$" "$tar" || { rm -f "$tar.tmp.$$"; _dr_fail 1 "cannot rename $tar.tmp.$$"; return; }
    rm -f "$log.tar"
    mv -T "$build" "$dir" || { _dr_fail 1 "cannot rename $build to $dir"; return; }
    _dr_log "cached in $tar ($(du -h "$tar" | cut -f1)), $((SECONDS - start))s"
}

debian_rootfs() {
    DEBIAN_ROOTFS="" DEBIAN_ROOTFS_WHY=""
    local suite=${1:-} cache tmp name tar dir fd rc p
    [[ -n $suite ]] || { _dr_fail 2 "usage: debian_rootfs SUITE [PACKAGE...]"; return; }
    shift
    [[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || { _dr_fail 2 "debian_rootfs: bad suite '$suite'"; return; }
    for p in "$@"; do
        [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || { _dr_fail 2 "debian_rootfs: bad package name '$p'"; return; }
    done
    local -a pkgs=()
    (( $# )) && mapfile -t pkgs < <(printf '%s\n' "$@" | LC_ALL=C sort -u)
    name=$suite${pkgs[0]:+-$(IFS=-; echo "${pkgs[*]}")}
    cache=$(_dr_cache_dir) tar=$cache/$name.tar
    tmp=${DEBIAN_ROOTFS_TMP:-${T:-}}
    [[ -n $tmp && -d $tmp ]] ||
        { _dr_fail 1 "debian_rootfs: no temp dir (set DEBIAN_ROOTFS_TMP, or make_temp_dir first)"; return; }
    dir=$tmp/rootfs-$name

    [[ $(id -u) == 0 ]] || { _dr_fail 77 "needs root (debootstrap, a rootfs owned by root)"; return; }
    if [[ -d $dir ]]; then
        DEBIAN_ROOTFS=$dir; [[ -n ${DEBIAN_ROOTFS_QUIET:-} ]] || printf '%s\n' "$dir"; return 0
    fi
    if [[ ! -f $tar ]]; then
        command -v debootstrap >/dev/null || { _dr_fail 77 "debootstrap missing (Debian package debootstrap)"; return; }
        [[ -f /usr/share/debootstrap/scripts/$suite ]] ||
            { _dr_fail 77 "this debootstrap does not know the suite $suite"; return; }
        mkdir -p "$cache" || { _dr_fail 1 "cannot make $cache"; return; }
        _dr_lock fd "$tar.lock" || return
        if [[ -f $tar ]]; then   # made by the test we waited for
            _dr_unlock fd
        else
            _dr_debootstrap "$suite" "$dir" "$tar" "${pkgs[@]}"; rc=$?
            _dr_unlock fd
            (( rc == 0 )) || return "$rc"
        fi
    fi
    if [[ ! -d $dir ]]; then _dr_unpack "$tar" "$dir" || return; fi
    DEBIAN_ROOTFS=$dir
    [[ -n ${DEBIAN_ROOTFS_QUIET:-} ]] || printf '%s\n' "$dir"
}

# debian_rootfs_or_skip SUITE [PACKAGE...]: debian_rootfs in the caller's shell, DEBIAN_ROOTFS set;
# on a failure tap.sh's skip (77) or fail and exit 1.
debian_rootfs_or_skip() {
    DEBIAN_ROOTFS_QUIET=1 debian_rootfs "$@"; local rc=$?
    (( rc == 0 )) && return 0
    if (( rc == 77 )); then
        declare -F skip >/dev/null && skip "$DEBIAN_ROOTFS_WHY"
        printf 'SKIP: %s\n' "$DEBIAN_ROOTFS_WHY"; exit 77
    fi
    if declare -F fail >/dev/null; then fail "harness: debian_rootfs $*: $DEBIAN_ROOTFS_WHY"
    else printf 'not ok - harness: debian_rootfs %s: %s\n' "$*" "$DEBIAN_ROOTFS_WHY"; fi
    exit 1
}

# _dr_etcd_version BINARY: MAJOR.MINOR.PATCH of an etcd binary run on the host, or nothing
_dr_etcd_version() {
    timeout -k 2 10 "$1" --version 2>/dev/null | sed -n 's/^etcd Version: \([0-9][0-9.]*\).*/\1/p'
}

# _dr_link TARGET LINK: the symbolic link LINK -> TARGET, made beside it and renamed over it
_dr_link() {
    ln -sfn "$1" "$2.tmp.$$" && mv -T "$2.tmp.$$" "$2" && return 0
    rm -f "$2.tmp.$$"; _dr_fail 1 "cannot link $2 to $1"
}

# _dr_etcd_from_suite SUITE: etcd-VERSION/ (etcd, etcdutl, VERSION, SOURCE) and the link etcd-SUITE to
# it, with the cache dir's etcd.lock held. The binary comes out of a cached SUITE tarball that has
# etcd-server, or, with none, out of a new debian_rootfs SUITE docker-cli docker.io etcd-server.
_dr_etcd_from_suite() {
    local suite=$1 cache t n tars=() out ver stage rc
    cache=$(_dr_cache_dir)
    for t in "$cache/$suite"-*.tar; do
        [[ -f $t ]] || continue
        n=${t##*/}; n=${n%.tar}
        [[ -$n- == "-$suite-"*"-etcd-server-"* ]] && tars+=("$t")
    done
    if (( ${#tars[@]} == 0 )); then
        # Its own temp dir, removed at once: only the tarball is wanted.
        _DR_MADE_TMP=$(mktemp -d /tmp/gipam-etcd-rootfs.XXXXXX) || { _dr_fail 1 "mktemp failed"; return; }
        # The package set of the dockerd matrix (private_dockerd.sh): one debootstrap a suite.
        DEBIAN_ROOTFS_TMP=$_DR_MADE_TMP DEBIAN_ROOTFS_QUIET=1 debian_rootfs "$suite" docker-cli docker.io etcd-server; rc=$?
        _dr_umount_under "$_DR_MADE_TMP/"; rm -rf --one-file-system "$_DR_MADE_TMP"; _DR_MADE_TMP=""
        (( rc == 0 )) || return "$rc"
        tars=("$cache/$suite-docker-cli-docker.io-etcd-server.tar")
    fi
    # The smallest one: the quickest to read through.
    t=$(ls -1S "${tars[@]}" | tail -n 1)
    stage=$(mktemp -d "$cache/.etcd-$suite.XXXXXX") || { _dr_fail 1 "mktemp in $cache failed"; return; }
    if ! out=$(tar -C "$stage" --wildcards -xpf "$t" './usr/bin/etcd*' 2>&1) || [[ ! -x $stage/usr/bin/etcd ]]; then
        rm -rf "$stage"; _dr_fail 1 "no usr/bin/etcd in $t" "$out"; return
    fi
    ver=$(_dr_etcd_version "$stage/usr/bin/etcd")
    if [[ -z $ver ]]; then   # a glibc newer than the host's, say
        out=$(timeout -k 2 10 "$stage/usr/bin/etcd" --version 2>&1; ldd "$stage/usr/bin/etcd" 2>&1)
        rm -rf "$stage"; _dr_fail 1 "$suite's etcd (from $t) does not run on this host" "$out"; return
    fi
    if [[ ! -x $cache/etcd-$ver/etcd ]]; then
        mkdir -p "$stage/etcd-$ver"
        mv "$stage"/usr/bin/etcd* "$stage/etcd-$ver/"
        echo "$ver" >"$stage/etcd-$ver/VERSION"
        echo "${t##*/} ($suite), extracted $(date -u +%FT%TZ)" >"$stage/etcd-$ver/SOURCE"
        rm -rf "$cache/etcd-$ver"
        mv -T "$stage/etcd-$ver" "$cache/etcd-$ver" ||
            { rm -rf "$stage"; _dr_fail 1 "cannot make $cache/etcd-$ver"; return; }
    fi
    rm -rf "$stage"
    _dr_link "etcd-$ver" "$cache/etcd-$suite" || return
    _dr_log "etcd $ver of $suite (from ${t##*/}) in $cache/etcd-$ver"
}

etcd_binary() {
    DEBIAN_ROOTFS_WHY=""
    local arg=${1:-} cache fd rc s p v
    cache=$(_dr_cache_dir)
    if [[ $arg =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]]; then
        # A version: the one already linked, else trixie's (the stable one first), else sid's.
        if [[ ! -x $cache/etcd-$arg/etcd ]]; then
            for s in trixie sid; do
                p=$(etcd_binary "$s") || { rc=$?; (( rc == 77 )) && return 77; continue; }
                v=$(cat "${p%/etcd}/VERSION")
                [[ $v == "$arg" || ${v%.*} == "$arg" ]] || continue
                [[ $v == "$arg" ]] || _dr_link "etcd-$v" "$cache/etcd-$arg" || return
                break
            done
            [[ -x $cache/etcd-$arg/etcd ]] || { _dr_fail 1 "neither trixie nor sid has etcd $arg"; return; }
        fi
        printf '%s\n' "$cache/etcd-$arg/etcd"
        return 0
    fi
    [[ $arg =~ ^[a-z][a-z0-9-]*$ ]] || { _dr_fail 2 "usage: etcd_binary SUITE|VERSION"; return; }
    if [[ ! -x $cache/etcd-$arg/etcd ]]; then
        [[ $(id -u) == 0 ]] || { _dr_fail 77 "needs root (the cache $cache)"; return; }
        mkdir -p "$cache" || { _dr_fail 1 "cannot make $cache"; return; }
        _dr_lock fd "$cache/etcd.lock" || return
        if [[ ! -x $cache/etcd-$arg/etcd ]]; then
            _dr_etcd_from_suite "$arg"; rc=$?
            _dr_unlock fd
            (( rc == 0 )) || return "$rc"
        else
            _dr_unlock fd
        fi
    fi
    printf '%s\n' "$(readlink -f "$cache/etcd-$arg/etcd")"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then   # run, not sourced
    case ${1:-} in
        debian_rootfs|etcd_binary)
            trap 'debian_rootfs_cleanup; exit 1' INT TERM
            "$@"; exit ;;
        *) echo "usage: $0 debian_rootfs SUITE [PACKAGE...] | etcd_binary SUITE|VERSION" >&2; exit 2 ;;
    esac
fi
