#!/usr/bin/env bash
# End-to-end test of `gipam check`, `gipam gc` and `gipam rebuild --from-docker` against leaks that
# a real, private dockerd makes on purpose (GIPAM_DOCKERD: 20.10 by default, or 26.1, 28.5):
#   1. gipam stopped during `docker network rm A`: dockerd gives up on the releases, A's pool leaks;
#   2. an aux address outside the subnet: dockerd refuses the create after RequestPool and the
#      gateway, and sends no ReleasePool: pool B (198.18.50.0/24) and its gateway leak (20.10;
#      newer dockerds refuse it before asking gipam, and nothing leaks);
#   3. dockerd killed (-9) with running containers on C while gipam is down, and restarted while
#      gipam is still down: the stale endpoints' releases are lost, the containers' addresses leak.
# Then check reports exactly those, gc --dry-run releases nothing, gc releases exactly those, a gc
# racing with a release and re-grant keeps every running container's address, a network without
# --gateway keeps its gateway, and rebuild writes a lease file from Docker's view that serves again.
#   bash tests/e2e/reconcile.sh /path/to/gipam     (root; exit 0 pass, 1 fail, 77 skip)
# Like run.sh: dockerd in its own namespaces (tests/support/private_dockerd.sh), gipam on the host
# with --socket $T/plugins/NAME.sock and --log-level=debug. Only 198.18.0.0/15 and 2001:db8::/32;
# no packet is sent to a container address. E2E_KEEP=1 keeps $T, E2E_TIMEOUT (600) is the watchdog.
# Takes ~100 s, most of it dockerd waiting ~15 s per call for the absent plugin (steps 1 and 3).

set -u -o pipefail
export LC_ALL=C
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"

GIPAM_BIN=${1:-}
NAME="gipam-rc-$$"
V4_SUPER=198.18.0.0/16 V6_SUPER=2001:db8:100::/56
KEEP_TEMP_DIR=${E2E_KEEP:-0}
IMG="gipam-rc-img:latest"
GPID="" GCPID=""
die() { fail "harness: $1" "${@:2}"; exit 1; }
logm() { printf '%s\n' "$*" | sed 's/^/# /'; }   # log, also of several lines

# ---- gipam: the daemon, and its subcommands against this run's files and dockerd
start_gipam() {
    "$GIPAM_BIN" --socket "$SOCK" --name "$NAME" -file "$LEASES" -v4 "$V4_SUPER" -v6 "$V6_SUPER" \
        --log-level=debug >>"$T/gipam.log" 2>&1 &
    GPID=$!
    local end=$((SECONDS + 15))
    while (( SECONDS < end )); do
        alive "$GPID" || break
        timeout 2 curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Length: 0' \
            http://plugin/Plugin.Activate 2>/dev/null | grep -q IpamDriver && return 0
        sleep 0.25
    done
    die "gipam did not start serving on $SOCK" "$(tail -n 20 "$T/gipam.log")"
}
stop_gipam() { alive "$GPID" && terminate gipam "$GPID" 10; GPID=""; }
gip() {   # gip SUBCOMMAND [ARGS...]
    timeout -k 5 120 "$GIPAM_BIN" "$1" --name "$NAME" --docker-host "unix://$T/docker.sock" "${@:2}"
}
log_mark() { echo "$(wc -l <"$T/gipam.log") $(wc -l <"$T/dockerd.log")"; }
calls_since() {   # calls_since MARK: the plugin calls gipam logged since, and dockerd's failed ones
    tail -n +"$(( ${1% *} + 1 ))" "$T/gipam.log" | sed -n 's/^gipam debug: \/\(IpamDriver\.[A-Za-z]*\) \(.*\) -> \([0-9]*\).*/#   call \1 \2 -> \3/p'
    tail -n +"$(( ${1#* } + 1 ))" "$T/dockerd.log" | sed -n 's/.*msg="\(Failed to [^:]*\):.*/#   dockerd: \1/p'
}

# ---- the lease file: is ADDR held (inside one of the address runs)?
key() {   # sortable form: 4:0000000000 / 6:<32 hex>
    if [[ $1 == *:* ]]; then echo "6:$(ip6_hex "${1%%/*}")"; else printf '4:%010d\n' "$(ip4_int "${1%%/*}")"; fi
}
held() {   # held ADDR [FILE]
    local k r lo hi
    k=$(key "$1")
    while read -r r; do
        [[ -z $r ]] && continue
        lo=$(key "${r%-*}"); hi=$(key "${r#*-}")
        [[ ! $k < $lo && ! $k > $hi ]] && return 0
    done < <("$GIPAM_BIN" leases -file "${2:-$LEASES}" -v --json | jq -r '.pools[].addresses[]')
    return 1
}
pool_held() { "$GIPAM_BIN" leases -file "${2:-$LEASES}" --json | jq -e --arg p "$1" 'any(.pools[]; .pool == $p)' >/dev/null; }
all_held() { local a; for a; do held "$a" || { DETAIL+="$a is not held"$'\n'; return 1; }; done; }
held_count() { "$GIPAM_BIN" leases -file "$1" --json | jq '[.pools[].held | tonumber] | add'; }
keys() { local a; for a in "$@"; do [[ -n $a ]] && key "$a"; done | sort -u; }

# ---- docker
RUN_CMD=(sh -c 'trap "exit 0" TERM; sleep 3600 & wait')
run_c() { RUN_OUT=$(dc run -d --name "$1" --network "$2" --restart=no --stop-timeout 2 "${@:3}" "$IMG" "${RUN_CMD[@]}" 2>&1); }
c_addrs() { dc inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}' "$1"; }
net_cfg() { dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{"\n"}}{{end}}' "$1" | sed '/^$/d'; }
running_addrs() { local c; for c in $(dc ps -q); do c_addrs "$c"; echo; done | tr ' ' '\n' | sed '/^$/d'; }
set_eq() {   # set_eq WHAT GOT WANT: sorted key lists, equal or DETAIL says how
    [[ $2 == "$3" ]] || { DETAIL+="$1: got [$(echo $2)] want [$(echo $3)]"$'\n'; return 1; }
}

cleanup_rc() {
    local rc=$1
    alive "$GCPID" && kill "$GCPID" 2>/dev/null
    dockerd_remove_containers
    dockerd_stop
    stop_gipam
    if run_failed "$rc"; then
        tail -n 120 "$T/gipam.log" 2>/dev/null | log_section "gipam log (last 120 lines)"
        grep -E 'level=(error|warning|fatal)' "$T/dockerd.log" 2>/dev/null | tail -n 30 | log_section "dockerd errors/warnings (last 30)"
        [[ -f $LEASES ]] && log_section "lease file" <"$LEASES"
    fi
    dockerd_remove_leftovers
}

# ---- preflight and setup
require_gipam_bin
if [[ $(id -u) == 0 ]] && ! { command -v dockerd && command -v jq && command -v curl && [[ -x /bin/busybox ]]; } >/dev/null; then
    log "installing docker.io busybox-static jq curl"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y docker.io busybox-static jq curl >/dev/null 2>&1 ||
        { timeout 300 apt-get update >/dev/null 2>&1; timeout 600 apt-get install -y docker.io busybox-static jq curl >/dev/null 2>&1; }
    hash -r
fi
dockerd_preflight
for t in jq curl /bin/busybox; do command -v $t >/dev/null || skip "$t missing"; done

make_temp_dir gipam-rc cleanup_rc
start_watchdog "${E2E_TIMEOUT:-600}"
SOCK="$T/plugins/$NAME.sock" LEASES="$T/state/leases.json"
dockerd_prepare "$NAME" "$T/plugins"
start_gipam
dockerd_start_or_skip
dockerd_import_busybox "$IMG" sh sleep true
log "temp dir $T, plugin $NAME, dockerd $(dc version -f '{{.Server.Version}}'), set up in $(( $(date +%s) - START_TS ))s"

# ---- 1. gipam stopped during `docker network rm A`
dc network create --ipam-driver "$NAME" netA >/dev/null || die "network create netA"
read -r A_NET A_GW < <(net_cfg netA)
stop_gipam
mark=$(log_mark) t0=$SECONDS   # dockerd retries each call ~15 s, then forgets the network
out=$(DC_TIMEOUT=90 dc network rm netA 2>&1); rc=$?
log "1: docker network rm netA with gipam down: exit $rc after $((SECONDS - t0))s: $out"
start_gipam
calls_since "$mark"
DETAIL="rm exit $rc: $out"
check "1 netA ($A_NET) is gone from Docker and its pool still held: leaked" \
    eval '(( rc == 0 )) && ! dc network inspect netA >/dev/null 2>&1 && pool_held "$A_NET"'

# ---- 2. aux address outside the subnet. The 20.10 CLI refuses it itself ("no matching subnet
# for aux-address"), so this create goes through the Engine API, as run.sh's 9c does.
B_NET=198.18.50.0/24
mark=$(log_mark)
out=$(dc network create --ipam-driver "$NAME" --subnet $B_NET --aux-address x=198.18.51.5 netB 2>&1); rc=$?
log "2: CLI create with aux outside: exit $rc: $out"
if (( rc != 0 )) && [[ $out != *"master pool"* ]]; then
    body='{"Name":"netB","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"'"$NAME"'","Config":[{"Subnet":"'$B_NET'","AuxiliaryAddresses":{"x":"198.18.51.5"}}]}}'
    out=$(timeout 60 curl -s -w ' HTTP %{http_code}' --unix-socket "$T/docker.sock" -H 'Content-Type: application/json' \
          -d "$body" http://docker/v1.41/networks/create 2>&1)
    logm "2: Engine API create: $out"
fi
calls_since "$mark"
DETAIL="$out"
if [[ $GIPAM_DOCKERD == bookworm ]]; then
    check "2 create refused (must belong to the master pool); $B_NET and its gateway 198.18.50.1 still held" \
        eval '[[ $out == *"master pool"* ]] && ! dc network inspect netB >/dev/null 2>&1 && pool_held $B_NET && held 198.18.50.1'
else
    # Newer dockerds check the aux address against the subnet before asking the plugin: no leak.
    check "2 create refused by dockerd itself (aux address outside the subnet); $B_NET never held" \
        eval '[[ $out == *"auxiliary address"* ]] && ! dc network inspect netB >/dev/null 2>&1 && ! pool_held $B_NET'
    B_NET=""
fi

# ---- 3. dockerd killed with running containers while gipam is down, restarted before gipam
dc network create --ipam-driver "$NAME" --ipv6 netC >/dev/null || die "network create netC"
C_CFG=$(net_cfg netC); C_GWS=$(awk '{print $2}' <<<"$C_CFG")
LEAK_C=""
for c in c1 c2; do run_c $c netC || die "docker run $c" "$RUN_OUT"; LEAK_C+=" $(c_addrs $c)"; done
log "3: netC: $(echo $C_CFG); c1 c2: $LEAK_C"
CPIDS=$(dc inspect -f '{{.State.Pid}}' c1 c2)
stop_gipam
ctrd=$(cat "$T/exec/containerd/containerd.pid" 2>/dev/null)
kill -KILL "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null; DOCKERD_PID=""
# As after a host crash: containerd and the shims (in dockerd's mount namespace) and the containers'
# init processes (in their own, and left behind by their killed shims) are killed by PID; the new
# dockerd must not find that containerd still running, or it waits for it and gives up.
dockerd_kill_leftovers
kill -KILL $CPIDS 2>/dev/null
for p in $ctrd $CPIDS; do wait_gone "$p" 30 || log "3: pid $p still there: $(cat /proc/$p/stat 2>&1)"; done
mark=$(log_mark) t0=$SECONDS
if ! dockerd_start; then   # its 40 s wait: dockerd waits ~15 s per plugin lookup before its API
    while alive "$DOCKERD_PID" && (( SECONDS - t0 < 300 )) && ! timeout 5 "$DOCKER" version >/dev/null 2>&1; do sleep 1; done
    timeout 5 "$DOCKER" version >/dev/null 2>&1 || die "dockerd did not come back" "$(tail -n 20 "$T/dockerd.log")"
    DOCKERD_MNT_NS=$(readlink "/proc/$DOCKERD_PID/ns/mnt")
fi
log "3: dockerd restarted with gipam down in $((SECONDS - t0))s; $(dc ps -a --format '{{.Names}}={{.State}}' | tr '\n' ' ')"
on_c=$(dc network inspect -f '{{range .Containers}}{{.Name}} {{end}}' netC); log "3: containers on netC now: [${on_c}]"
start_gipam
calls_since "$mark"
run_c c3 netC && C3=$(c_addrs c3) || die "docker run c3" "$RUN_OUT"
DETAIL="c1 c2 addresses: $LEAK_C; on netC: [$on_c]"
check "3 c1 and c2 are off netC and their addresses still held: leaked" \
    eval '[[ -z ${on_c// } ]] && all_held $LEAK_C'

# ---- check: exactly the leaks of 1-3
WANT_POOLS=$(printf '%s\n' "$A_NET" ${B_NET:+"$B_NET"} | sort) WANT_ADDRS=$(keys $LEAK_C)
check_json() {   # check_json EXPECTED_RC WANT_POOLS WANT_ADDRS
    JSON=$(gip check -file "$LEASES" --json 2>&1); local rc=$?
    DETAIL="exit $rc, want $1"$'\n'"$JSON"$'\n'
    (( rc == $1 )) || return 1
    local ok=0
    set_eq "leaked pools" "$(jq -r '.leakedPools[].pool' <<<"$JSON" | sort)" "$2" || ok=1
    set_eq "leaked addresses" "$(keys $(jq -r '.leakedAddresses[].address' <<<"$JSON"))" "$3" || ok=1
    set_eq "missing and foreign" "$(jq -c '[.missingPools, .missingAddresses, .foreign]' <<<"$JSON")" '[[],[],[]]' || ok=1
    return $ok
}
check "check: exit 1, leaked pools = {netA $A_NET${B_NET:+, netB $B_NET}}, leaked addresses = c1's and c2's, nothing missing or foreign" \
    check_json 1 "$WANT_POOLS" "$WANT_ADDRS"

gc_sets() {   # gc_sets VERB OUTPUT -> POOLS_OUT ADDRS_OUT ("released" or "would release")
    POOLS_OUT=$(sed -n "s/^$1 pool \([^ ]*\).*/\1/p" <<<"$2" | sed 's/^gipam-[a-z]*\///' | sort)
    ADDRS_OUT=$(keys $(sed -n "s/^$1 address \([^ ]*\) of .*/\1/p" <<<"$2"))
}
cp "$LEASES" "$T/before-dry-run.json"
out=$(gip gc --socket "$SOCK" --grace 3 --dry-run 2>&1); rc=$?
gc_sets "would release" "$out"
DETAIL="exit $rc"$'\n'"$out"$'\n'
check "gc --dry-run: names the same pools and addresses, and the lease file is unchanged" \
    eval 'set_eq pools "$POOLS_OUT" "$WANT_POOLS" && set_eq addresses "$ADDRS_OUT" "$WANT_ADDRS" && cmp -s "$LEASES" "$T/before-dry-run.json"'

mark=$(log_mark)
out=$(gip gc --socket "$SOCK" --grace 3 2>&1); rc=$?
gc_sets released "$out"
log "gc output:"; sed 's/^/#   /' <<<"$out"
DETAIL="exit $rc"$'\n'"$out"$'\n'
check "gc --grace 3: releases exactly those" \
    eval 'set_eq pools "$POOLS_OUT" "$WANT_POOLS" && set_eq addresses "$ADDRS_OUT" "$WANT_ADDRS"'
check "gc: check exits 0 afterwards" check_json 0 "" ""
DETAIL="c3 $C3, netC gateways $(echo $C_GWS)"
check "gc: c3's addresses and netC's gateways are still held; netA and netB pools are not" \
    eval 'all_held $C3 $C_GWS && ! pool_held "$A_NET" && ! pool_held 198.18.50.0/24'
run_c c4 netC && C4=$(c_addrs c4) || C4=""
DETAIL="c4: [$C4] ($RUN_OUT); c3: $C3"
check "gc: a new container c4 on netC gets addresses distinct from c3's and the gateways" \
    eval '[[ $(keys $C4 | wc -l) == 2 && -z $(comm -12 <(keys $C4) <(keys $C3 $C_GWS)) ]]'

# ---- race guard: gc whose pool changes during the grace. Leaks made by Docker's "leak A": with
# --ip6 taken, the v4 --ip granted just before is never released. (Explicit gateways: see netE.)
dc network create --ipam-driver "$NAME" --subnet 198.18.60.0/24 --gateway 198.18.60.1 --ipv6 \
    --subnet 2001:db8:60::/64 --gateway 2001:db8:60::1 netD >/dev/null || die "network create netD"
run_c d1 netD --ip 198.18.60.10 --ip6 2001:db8:60::10 || die "docker run d1" "$RUN_OUT"
mark=$(log_mark)
for a in 198.18.60.2 198.18.60.3; do
    run_c "x${a##*.}" netD --ip $a --ip6 2001:db8:60::10; log "race: leak attempt --ip $a: ${RUN_OUT##*Error response from daemon: }"
    dc rm -f "x${a##*.}" >/dev/null 2>&1
done
calls_since "$mark"
if ! check_json 1 "" "$(keys 198.18.60.2 198.18.60.3)"; then
    fail "race: the two v4 addresses leak when the v6 --ip6 is refused (needed for the race)" "$DETAIL"
else
    mark=$(log_mark)
    gip gc --socket "$SOCK" --grace 5 >"$T/gc-race.out" 2>&1 & GCPID=$!
    for i in {1..40}; do tail -n +"${mark% *}" "$T/gipam.log" | grep -q '^gipam debug: /Gipam.Observe' && break; sleep 0.1; done
    sleep 0.5   # gc has read gipam's state (its first look), and Docker's by now
    # as dockerd's retry would: released, then granted to the next container
    log "race: late ReleaseAddress 198.18.60.2 -> $(timeout 10 curl -s --unix-socket "$SOCK" -X POST \
        -d '{"PoolID":"gipam-local/198.18.60.0/24","Address":"198.18.60.2"}' http://plugin/IpamDriver.ReleaseAddress)"
    run_c d2 netD; D2=$(c_addrs d2)
    log "race: d2 (started during the grace) got $D2"
    wait "$GCPID"; rc=$?; GCPID=""
    out=$(cat "$T/gc-race.out"); sed 's/^/#   gc: /' <<<"$out"
    notheld=""
    for a in $(running_addrs); do held $a || notheld+=" $a"; done
    DETAIL="gc exit $rc; running containers' addresses not held:${notheld:- none}"$'\n'"$out"
    check "race: after the gc every running container's address is still held (d2 has $D2)" eval '[[ -z $notheld ]]'
    DETAIL=$out
    check "race: gc keeps the other leak 198.18.60.3, as its pool changed since the first look" \
        eval 'held 198.18.60.3 && grep -q "^kept.*198.18.60.3" <<<"$out"'
    gip gc --socket "$SOCK" --grace 1 >/dev/null 2>&1
    check "race: a second gc releases 198.18.60.3, then check is clean" check_json 0 "" ""
fi

# ---- netE: --subnet without --gateway. gipam picks the gateway (.1), but `docker network inspect`
# shows no gateway for it (20.10 shows a user-given IPAM config as given): it is still in use.
dc network create --ipam-driver "$NAME" --subnet 198.18.70.0/24 --ipv6 --subnet 2001:db8:70::/64 netE >/dev/null || die "network create netE"
E_GWS="198.18.70.1 2001:db8:70::1"
log "netE as Docker shows it: $(net_cfg netE | tr '\n' ' ')"
check "netE: check does not report its gateways $E_GWS as leaked" check_json 0 "" ""
out=$(gip gc --socket "$SOCK" --grace 0 --dry-run 2>&1)
DETAIL=$out
check "netE: gc --dry-run would not release its gateways" eval '! grep -q "^would release.*198.18.70.1 " <<<"$out"'

# ---- missing: gipam loses an address a running container uses (as if a release came for it by
# mistake): check must call it MISSING, and --reserve-missing must hold it again.
c3v4=$(tr ' ' '\n' <<<"$C3" | grep -v : | sed -n '1s|/.*||;1p')
c3pool="gipam-local/$(awk '$1 !~ /:/ {print $1}' <<<"$C_CFG")"
log "missing: releasing $c3v4 of $c3pool behind c3's back -> $(timeout 10 curl -s --unix-socket "$SOCK" -X POST \
    -d "{\"PoolID\":\"$c3pool\",\"Address\":\"$c3v4\"}" http://plugin/IpamDriver.ReleaseAddress)"
JSON=$(gip check -file "$LEASES" --json 2>&1); rc=$?
DETAIL="exit $rc: $JSON"
check "missing: check reports c3's $c3v4 as missing, exit 1" \
    eval '(( rc == 1 )) && [[ $(jq -r ".missingAddresses[].address" <<<"$JSON") == "$c3v4" ]]'
out=$(gip check -file "$LEASES" --reserve-missing --socket "$SOCK" 2>&1)
DETAIL=$out
check "missing: --reserve-missing holds it again, and check is clean" \
    eval 'grep -q "^held $c3v4 " <<<"$out" && held $c3v4 && check_json 0 "" ""'

# ---- rebuild from Docker's view
out=$(gip rebuild --from-docker -file "$T/state/other.json" -v4 "$V4_SUPER" 2>&1); rc=$?
log "rebuild beside a running gipam: exit $rc: $out"
DETAIL="exit $rc: $out"
check "rebuild: refused while a gipam holds the lease file's directory" \
    eval '(( rc != 0 )) && [[ ! -e $T/state/other.json ]]'
stop_gipam
mv "$LEASES" "$T/leases.before-rebuild.json"
sum=$(md5sum <"$T/leases.before-rebuild.json")
out=$(gip rebuild --from-docker -file "$T/leases.before-rebuild.json" -v4 "$V4_SUPER" 2>&1); rc=$?
log "rebuild onto an existing file: exit $rc: $out"
DETAIL="exit $rc: $out"
check "rebuild: refused when the file exists (and leaves it alone)" \
    eval '(( rc != 0 )) && [[ $(md5sum <"$T/leases.before-rebuild.json") == "$sum" ]]'
out=$(gip rebuild --from-docker -file "$LEASES" -v4 "$V4_SUPER" -v6 "$V6_SUPER" 2>&1); rc=$?
logm "rebuild: exit $rc: $out"
DETAIL="exit $rc: $out"
check "rebuild: writes a new lease file" eval '(( rc == 0 )) && [[ -s $LEASES ]]'
start_gipam
before=$(running_addrs; echo "$C_GWS" 198.18.60.1 2001:db8:60::1 $E_GWS)
run_c c5 netC && C5=$(c_addrs c5) || C5=""
DETAIL="c5: [$C5] ($RUN_OUT); in use before: $(echo $before)"
check "rebuild: c5 on netC gets addresses distinct from every running container's and the gateways" \
    eval '[[ $(keys $C5 | wc -l) == 2 && -z $(comm -12 <(keys $C5) <(keys $before)) ]]'
mark=$(log_mark)
run_c e1 netE && E1=$(c_addrs e1) || E1=""
DETAIL="e1: [$E1] ($RUN_OUT)"$'\n'"$(calls_since "$mark")"
check "rebuild: e1 on netE gets addresses other than netE's gateways" \
    eval '[[ $(keys $E1 | wc -l) == 2 && -z $(comm -12 <(keys $E1) <(keys $E_GWS)) ]]'
# rebuild sees every network, gateway and running container, so nothing is leaked or missing; what
# it cannot know (pool options, round-robin positions) check does not compare.
check "rebuild: check exits 0 on the rebuilt file" check_json 0 "" ""
DETAIL="$(cat "$LEASES")"$'\n'
check "rebuild: the rebuilt file holds the old one's pools, its addresses plus c5's and e1's, and no other" \
    eval 'set_eq pools "$(jq -r ".pools[].pool" "$LEASES" | sort)" "$(jq -r ".pools[].pool" "$T/leases.before-rebuild.json" | sort)" &&
          all_held $before $C5 $E1 && (( $(held_count "$LEASES") == $(held_count "$T/leases.before-rebuild.json") + 4 ))'

exit $(( FAILED == 0 ? 0 : 1 ))
