#!/usr/bin/env bash
# Multi-host end-to-end test: two "hosts", each a private dockerd with its own gipam (own lease
# file, socket and --node-id), sharing one address plan through one etcd member the test starts.
#
#   bash tests/e2e/multihost.sh /path/to/gipam     (root; exit 0 pass, 1 fail, 77 skip)
#
#   1. each dockerd uses its own gipam (a probe network, logged by that host's gipam);
#   2. 4 networks per host created at once on both hosts get pairwise distinct, non-overlapping
#      /24s, and etcd holds exactly one block per network naming its host;
#   3. a shared network "lan" (--ipam-opt gipam.network=lan) created at once on both hosts has
#      the same subnet and gateway on both, one pool in etcd named lan, held by both hosts;
#   4. 3 containers per host on lan, started at once, get pairwise distinct addresses;
#   5. each of them is in etcd under lan's pool, with the node of its host;
#   5c. a reuse delay on a shared network holds for both hosts (see below);
#   6. removing containers and networks frees everything: lan's pool stays while one host still
#      has it, then no /gipam/blocks, /gipam/pools or /gipam/names key is left (/gipam/config
#      stays) and neither lease file holds a pool.
#
# Each host has its own directory ($ROOT/a, $ROOT/b) in the scratch directory $ROOT. The helpers of
# tests/support/private_dockerd.sh serve one dockerd at a time: `dockerd_use HOST` makes HOST's the
# current one, `dch HOST ...` runs the docker CLI against HOST; commands run on both at once go to
# subshells that switch there (`spawn`). dockerd and gipam run as in run.sh (own namespaces, gipam
# on the host with --socket HOSTDIR/plugins/NAME.sock); etcd listens on free loopback ports with
# its data dir in $ROOT. Everything is stopped by PID. Only 198.18.0.0/16 and 2001:db8:100::/56; no
# packet is sent to a container address.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), E2E_KEEP=1 keeps $ROOT,
# E2E_TIMEOUT=180 is the watchdog for the whole run, seconds. MH_NO_ETCD=1 starts both gipams
# without --etcd-endpoints, to see this test fail: each host then hands out the same blocks
# (check 2) and addresses (check 4), and etcd stays empty.

set -u -o pipefail
export LC_ALL=C ETCDCTL_API=3
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"
source "$support/etcd_kv.sh"

GIPAM_BIN=${1:-}
NAME="gipam-mh-$$"   # the plugin's name on both hosts; its dockerds are tagged $NAME-a, $NAME-b
V4_SUPER=198.18.0.0/16 V6_SUPER=2001:db8:100::/56
KEEP_TEMP_DIR=${E2E_KEEP:-0}
IMG="gipam-mh-img:latest"
HOSTS=(A B)
declare -A NODE=([A]=hostA [B]=hostB)
declare -A GPID=()       # each host's gipam
ROOT="" ETCD_PID="" ETCD_EP=""
die() { fail "harness: $1" "${@:2}"; exit 1; }

# ---------------------------------------------------------------------------
# commands on both hosts at once

# spawn JOB HOST ARGS...: `docker ARGS` on HOST in the background; join waits for all of them ->
# JOB_RC[JOB] JOB_OUT[JOB]. join polls for status files instead of using the wait builtin: when
# the watchdog's TERM ends the run from inside a `wait`, bash (5.2) can lose the status of the
# watchdog, reaped at that moment, and finish_run's stop_watchdog then waits for it forever.
declare -A JOB_PID=() JOB_RC=() JOB_OUT=()
spawn() {
    rm -f "$ROOT/job.$1.rc"
    ( dockerd_use "$2"; dc "${@:3}" >"$ROOT/job.$1" 2>&1; echo $? >"$ROOT/job.$1.rc" ) &
    JOB_PID[$1]=$!
}
join() {
    local j
    for j in "${!JOB_PID[@]}"; do
        # "N\n" comes in one write: once the file is not empty, it is complete
        while [[ ! -s $ROOT/job.$j.rc ]] && alive "${JOB_PID[$j]}"; do sleep 0.1; done
        JOB_RC[$j]=$(cat "$ROOT/job.$j.rc" 2>/dev/null || echo 255)
        JOB_OUT[$j]=$(cat "$ROOT/job.$j")
    done
    JOB_PID=()
}

# ---------------------------------------------------------------------------
# etcd: one member on free loopback ports, data dir in $ROOT

free_port() {   # a TCP port nothing listens on here, other than $1
    local p i
    for i in {1..50}; do
        p=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-60999)
        [[ $p != "${1:-}" && -z $(ss -Htln "sport = :$p") ]] && { echo $p; return 0; }
    done
    return 1
}
start_etcd() {
    local c p end=$((SECONDS + 20))
    c=$(free_port) && p=$(free_port "$c") || die "no free port for etcd"
    ETCD_EP=http://127.0.0.1:$c
    etcd --name e --data-dir "$ROOT/etcd" --listen-client-urls "$ETCD_EP" --advertise-client-urls "$ETCD_EP" \
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "e=http://127.0.0.1:$p" >"$ROOT/etcd.log" 2>&1 &
    ETCD_PID=$!
    while (( SECONDS < end )); do
        alive "$ETCD_PID" || break
        ec endpoint health >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "etcd did not come up on $ETCD_EP" "$(tail -n 20 "$ROOT/etcd.log")"
}
ec() { timeout -k 2 10 etcdctl --endpoints "$ETCD_EP" "$@"; }

# ---------------------------------------------------------------------------
# gipam, docker

start_gipam() {   # the current host's gipam; waits until it answers Plugin.Activate
    local h=$DOCKERD_NAME sock=$T/plugins/$NAME.sock end=$((SECONDS + 15))
    local cluster=(--etcd-endpoints "$ETCD_EP" --node-id "${NODE[$h]}")
    [[ ${MH_NO_ETCD:-0} == 1 ]] && cluster=()
    "$GIPAM_BIN" -v4 "$V4_SUPER" -v6 "$V6_SUPER" -file "$T/state/leases.json" --socket "$sock" --name "$NAME" \
        "${cluster[@]}" >>"$T/gipam.log" 2>&1 &
    GPID[$h]=$!
    while (( SECONDS < end )); do
        alive "${GPID[$h]}" || break
        timeout 2 curl -sf --unix-socket "$sock" -X POST -H 'Content-Length: 0' http://plugin/Plugin.Activate 2>/dev/null |
            grep -q IpamDriver && return 0
        sleep 0.25
    done
    die "gipam of ${NODE[$h]} did not start serving on $sock" "$(tail -n 20 "$T/gipam.log")"
}
stop_gipam() { local h=$DOCKERD_NAME; alive "${GPID[$h]:-}" && terminate "gipam of ${NODE[$h]}" "${GPID[$h]}" 10; GPID[$h]=""; }
subnet_gw() { dch "$1" network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' "$2" 2>&1; }
lan_addr() { dch "$1" inspect -f '{{with index .NetworkSettings.Networks "lan"}}{{.IPAddress}}{{end}}' "$2" 2>&1; }
lease_pools() { jq -r '.pools | if type == "array" then (map(.id) | join(" ")) else "unreadable" end' "$1" 2>&1; }

# Before the scratch directory goes (tap.sh's finish_run): on failure what etcd and each host hold
# and their logs; then containers, dockerd and gipam of each host and etcd, by PID; leaked mounts
# and cgroups. $T is $ROOT again at the end (dockerd_remove_all_leftovers), for finish_run to remove.
cleanup_mh() {
    local rc=$1 h
    if run_failed "$rc"; then
        alive "$ETCD_PID" && etcd_kv /gipam/ 2>&1 | head -n 80 | log_section "etcd keys under /gipam/"
        for h in "${HOSTS[@]}"; do
            dockerd_known "$h" || continue
            dockerd_use "$h"
            tail -n 60 "$T/gipam.log" 2>/dev/null | log_section "gipam log of ${NODE[$h]} (last 60 lines)"
            grep -E 'level=(error|fatal)' "$T/dockerd.log" 2>/dev/null | tail -n 15 |
                log_section "dockerd log of ${NODE[$h]}: errors (last 15)"
            [[ -f $T/state/leases.json ]] && log_section "lease file of ${NODE[$h]}" <"$T/state/leases.json"
        done
        [[ -s $ROOT/etcd.log ]] && grep -E '"level":"(warn|error|fatal)"' "$ROOT/etcd.log" | tail -n 10 |
            log_section "etcd log: warnings and errors (last 10)"
    fi
    for h in "${HOSTS[@]}"; do
        dockerd_known "$h" || continue
        dockerd_use "$h"
        dockerd_remove_containers
        dockerd_stop
        stop_gipam
    done
    alive "$ETCD_PID" && terminate etcd "$ETCD_PID" 10
    dockerd_remove_all_leftovers
}

# ---------------------------------------------------------------------------
# preflight and setup

require_gipam_bin
dockerd_preflight etcd etcdctl jq curl ss /bin/busybox

make_temp_dir gipam-mh cleanup_mh
ROOT=$T
start_watchdog "${E2E_TIMEOUT:-180}"
start_etcd
log "scratch dir $ROOT, plugin $NAME, etcd $(etcd --version | sed -n 's/^etcd Version: //p') on $ETCD_EP (pid $ETCD_PID)"
[[ ${MH_NO_ETCD:-0} == 1 ]] && log "MH_NO_ETCD=1: the gipams run WITHOUT etcd; checks 2-6 are expected to fail"
for h in "${HOSTS[@]}"; do
    dockerd_add "$h" "$ROOT/${h,,}" "$NAME-${h,,}" "$ROOT/${h,,}/plugins"
    mkdir -p "$T/state"
    start_gipam
    dockerd_start_or_skip
    dockerd_import_busybox "$IMG" sh sleep true
    log "${NODE[$h]}: dockerd pid $DOCKERD_PID, gipam pid ${GPID[$h]}, in $T"
done
log "set up in $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# 1. each dockerd uses its own gipam

for h in "${HOSTS[@]}"; do
    out=$(dch "$h" network create --ipam-driver "$NAME" probe 2>&1); rc=$?
    read -r s g < <(subnet_gw "$h" probe)
    dockerd_use "$h"
    DETAIL="create exit $rc: $out"$'\n'"probe: ${s:-?} gw ${g:-?}"$'\n'"$(tail -n 5 "$T/gipam.log")"
    check "1 ${NODE[$h]}: dockerd's probe network gets a /24 of $V4_SUPER ($s) from this host's gipam" \
        eval '(( rc == 0 )) && is_block "$s" 24 "$V4_SUPER" && grep -qF "RequestPool gipam-local/$s granted" "$T/gipam.log"'
    dch "$h" network rm probe >/dev/null 2>&1
done

# ---------------------------------------------------------------------------
# 2. 4 networks per host, all created at once

NETS=()
for h in "${HOSTS[@]}"; do for i in 1 2 3 4; do NETS+=("n$h$i"); spawn "n$h$i" "$h" network create --ipam-driver "$NAME" "n$h$i"; done; done
join
declare -A SUB=()
ok=1 det=()
for n in "${NETS[@]}"; do
    h=${n:1:1}
    if (( JOB_RC[$n] != 0 )); then ok=0; det+=("${NODE[$h]} network create $n: exit ${JOB_RC[$n]}: ${JOB_OUT[$n]}"); continue; fi
    read -r s g < <(subnet_gw "$h" "$n")
    SUB[$n]=$s
    det+=("$n on ${NODE[$h]}: $s")
    is_block "$s" 24 "$V4_SUPER" || { ok=0; det+=("  $s is no /24 of $V4_SUPER"); }
done
for ((i = 0; i < ${#NETS[@]}; i++)); do
    for ((j = i + 1; j < ${#NETS[@]}; j++)); do
        a=${NETS[i]} b=${NETS[j]}
        [[ -n ${SUB[$a]:-} && -n ${SUB[$b]:-} ]] || continue
        overlaps "${SUB[$a]}" "${SUB[$b]}" && { ok=0; det+=("$a (${SUB[$a]}) and $b (${SUB[$b]}) overlap"); }
    done
done
if (( ok )); then pass "2 8 networks created at once (4 per host) all get pairwise distinct, non-overlapping /24s"
else fail "2 8 networks created at once (4 per host) all get pairwise distinct, non-overlapping /24s" "${det[@]}"; fi

KV=$(etcd_kv /gipam/) ok=1 det=()
for n in "${NETS[@]}"; do
    [[ -n ${SUB[$n]:-} ]] || { ok=0; continue; }
    h=${n:1:1} k=$(block_key "${SUB[$n]}")
    v=$(kv_get "$k") || { ok=0; det+=("$n: no key $k"); continue; }
    want=$(jq -cn --arg p "gipam-local/${SUB[$n]}" --arg n "${NODE[$h]}" '{pool: $p, node: $n, scope: "node"}')
    [[ $(jq -c '{pool, node, scope}' <<<"$v" 2>&1) == "$want" ]] || { ok=0; det+=("$n: $k is $v, want $want"); }
done
blocks=$(kv_keys ^/gipam/blocks/)
(( $(grep -c . <<<"$blocks") == ${#NETS[@]} )) || { ok=0; det+=("etcd holds $(grep -c . <<<"$blocks") blocks, want ${#NETS[@]}:" $blocks); }
if (( ok )); then pass "2 etcd holds exactly one block per network, naming its pool and node (scope node)"
else fail "2 etcd holds exactly one block per network, naming its pool and node (scope node)" "${det[@]}"; fi

# ---------------------------------------------------------------------------
# 3. the shared network lan, created on both hosts at once

for h in "${HOSTS[@]}"; do spawn "lan$h" "$h" network create --ipam-driver "$NAME" --ipam-opt gipam.network=lan lan; done
join
declare -A LSUB=() LGW=()
ok=1 det=()
for h in "${HOSTS[@]}"; do
    if (( JOB_RC[lan$h] != 0 )); then ok=0; det+=("${NODE[$h]}: exit ${JOB_RC[lan$h]}: ${JOB_OUT[lan$h]}"); continue; fi
    read -r LSUB[$h] LGW[$h] < <(subnet_gw "$h" lan)
    det+=("lan on ${NODE[$h]}: ${LSUB[$h]} gw ${LGW[$h]}")
done
LAN=${LSUB[A]:-}
for n in "${NETS[@]}"; do
    [[ -n $LAN && -n ${SUB[$n]:-} ]] && overlaps "$LAN" "${SUB[$n]}" && { ok=0; det+=("lan overlaps $n (${SUB[$n]})"); }
done
if (( ok )) && [[ ${LSUB[A]} == "${LSUB[B]}" && ${LGW[A]} == "${LGW[B]}" ]] && is_block "$LAN" 24 "$V4_SUPER" &&
   in_cidr "${LGW[A]}" "$LAN"; then
    pass "3 lan created at once on both hosts: the same subnet $LAN and gateway ${LGW[A]} on both, overlapping no host network"
else
    fail "3 lan created at once on both hosts: the same subnet and gateway on both, overlapping no host network" "${det[@]}"
fi
KV=$(etcd_kv /gipam/)
POOL=$(kv_get /gipam/names/lan) gwv=$(kv_get "/gipam/pools/$POOL/addresses/${LGW[A]:-}") bv=$(kv_get "$(block_key "${LAN:-0.0.0.0/0}")")
DETAIL="/gipam/names/lan: $POOL; gateway key: $gwv; block: $bv; holders: $(kv_keys "^/gipam/pools/$POOL/holders/" | xargs)"
check "3 etcd: /gipam/names/lan -> gipam-local/$LAN, held by both hosts, its block cluster-scoped, the gateway held once" \
    eval '[[ $POOL == "gipam-local/$LAN" && $(hold_of "$gwv") =~ ^host[AB]\ shared$ && $(jq -r .scope <<<"$bv") == cluster ]] &&
          kv_get "/gipam/pools/$POOL/holders/hostA" >/dev/null && kv_get "/gipam/pools/$POOL/holders/hostB" >/dev/null'

# ---------------------------------------------------------------------------
# 4. 3 containers per host on lan, all started at once; 5. their addresses in etcd

CS=()
for h in "${HOSTS[@]}"; do
    for i in 1 2 3; do CS+=("c$h$i"); spawn "c$h$i" "$h" run -d --name "c$h$i" --network lan "$IMG" sleep 600; done
done
join
declare -A ADDR=()
ok=1 det=()
for c in "${CS[@]}"; do
    h=${c:1:1}
    if (( JOB_RC[$c] != 0 )); then ok=0; det+=("${NODE[$h]} docker run $c: exit ${JOB_RC[$c]}: ${JOB_OUT[$c]}"); continue; fi
    ADDR[$c]=$(lan_addr "$h" "$c")
    det+=("$c on ${NODE[$h]}: ${ADDR[$c]}")
    in_cidr "${ADDR[$c]}" "$LAN" && [[ ${ADDR[$c]} != "${LGW[A]}" ]] || { ok=0; det+=("  not an address of $LAN other than its gateway"); }
done
dups=$(printf '%s\n' "${ADDR[@]}" | sort | uniq -d)
[[ -z $dups ]] || { ok=0; det+=("given twice: $(echo $dups)"); }
if (( ok )); then pass "4 6 containers started at once on lan (3 per host) get pairwise distinct addresses of $LAN"
else fail "4 6 containers started at once on lan (3 per host) get pairwise distinct addresses of $LAN" "${det[@]}"; fi

KV=$(etcd_kv /gipam/) ok=1 det=()
for c in "${CS[@]}"; do
    [[ -n ${ADDR[$c]:-} ]] || { ok=0; det+=("$c has no address"); continue; }
    h=${c:1:1} k="/gipam/pools/$POOL/addresses/${ADDR[$c]}"
    v=$(kv_get "$k") || { ok=0; det+=("$c: no key $k"); continue; }
    [[ $(hold_of "$v") == "${NODE[$h]} endpoint" ]] ||
        { ok=0; det+=("$c: $k is '$v', want it held by ${NODE[$h]} for an endpoint"); }
done
n=$(kv_keys "^/gipam/pools/$POOL/addresses/" | grep -c .)
(( n == ${#CS[@]} + 1 )) || { ok=0; det+=("lan's pool holds $n addresses in etcd, want ${#CS[@]} and the gateway"); }
if (( ok )); then pass "5 each container's address is in etcd under $POOL, with the node of its host"
else fail "5 each container's address is in etcd under $POOL, with the node of its host" "${det[@]}"; fi

# 5b. a static address (docker run --ip, which needs a --subnet network: "fixed", shared as
# gipam.network=fixed on both hosts) belongs to one container across both hosts
FIXED=198.18.230.0/24 X=198.18.230.200
ok=1 det=()
for h in "${HOSTS[@]}"; do
    out=$(dch "$h" network create --ipam-driver "$NAME" --ipam-opt gipam.network=fixed --subnet "$FIXED" fixed 2>&1) ||
        { ok=0; det+=("${NODE[$h]}: network create fixed: $out"); }
done
out=$(dch A run -d --name sA --network fixed --ip "$X" "$IMG" sleep 600 2>&1) || { ok=0; det+=("A: --ip $X: $out"); }
A1=$(dch A inspect -f '{{.NetworkSettings.Networks.fixed.IPAddress}}' sA 2>&1)
out=$(dch A run -d --name sA2 --network fixed "$IMG" sleep 600 2>&1) || { ok=0; det+=("A: a dynamic one on fixed: $out"); }
A2=$(dch A inspect -f '{{.NetworkSettings.Networks.fixed.IPAddress}}' sA2 2>&1)
det+=("A: sA at $A1, sA2 (dynamic) at $A2")
for want in "$X" "$A2"; do
    out=$(dch B run -d --name sB --network fixed --ip "$want" "$IMG" sleep 600 2>&1) && { ok=0; det+=("B: --ip $want was granted too"); }
    det+=("B: --ip $want: $(tail -n 1 <<<"$out")")
    [[ $out == *"$want"* && $out == *"${NODE[A]}"* ]] || { ok=0; det+=("  want a refusal naming $want and ${NODE[A]}"); }
    dch B rm -f sB >/dev/null 2>&1
done
dch A rm -f sA >/dev/null 2>&1
out=$(dch B run -d --name sB --network fixed --ip "$X" "$IMG" sleep 600 2>&1) || { ok=0; det+=("B, after A's sA went: --ip $X: $out"); }
[[ $(dch B inspect -f '{{.NetworkSettings.Networks.fixed.IPAddress}}' sB 2>&1) == "$X" ]] || { ok=0; det+=("sB is not at $X"); }
dch B rm -f sB >/dev/null 2>&1
dch A rm -f sA2 >/dev/null 2>&1
for h in "${HOSTS[@]}"; do dch "$h" network rm fixed >/dev/null 2>&1 || { ok=0; det+=("${NODE[$h]}: network rm fixed failed"); }; done
if (( ok )); then pass "5 on a shared --subnet network, --ip $X and a dynamic address of ${NODE[A]}'s are refused on ${NODE[B]} naming ${NODE[A]}; once A's container goes, B gets $X"
else fail "5 on a shared --subnet network, --ip $X and a dynamic address of ${NODE[A]}'s are refused on ${NODE[B]} naming ${NODE[A]}; once A's container goes, B gets $X" "${det[@]}"; fi

# 5c. a reuse delay on a shared network (gipam.reuse-delay=1h, an --ip-range of 4 addresses):
# what A released cools for B too, B's containers take the other three, the fourth gets the one
# released longest ago (nothing else free), and the pool's keys go with the network
COOL=198.18.231.0/24 COOL_RANGE=198.18.231.8/30
ok=1 det=()
for h in "${HOSTS[@]}"; do
    out=$(dch "$h" network create --ipam-driver "$NAME" --ipam-opt gipam.network=cool --ipam-opt gipam.reuse-delay=1h \
          --subnet "$COOL" --ip-range "$COOL_RANGE" cool 2>&1) || { ok=0; det+=("${NODE[$h]}: network create cool: $out"); }
done
out=$(dch A run -d --name rA --network cool "$IMG" sleep 600 2>&1) || { ok=0; det+=("A: run rA: $out"); }
R=$(dch A inspect -f '{{.NetworkSettings.Networks.cool.IPAddress}}' rA 2>&1)
dch A rm -f rA >/dev/null 2>&1
COOL_POOL="gipam-local/$COOL/$COOL_RANGE"
KV=$(etcd_kv /gipam/)
v=$(kv_get "/gipam/pools/$COOL_POOL/addresses/$R") || v="(no key)"
det+=("A's rA had $R, released; etcd: $v")
[[ $v == *'"cooling until"'* ]] || { ok=0; det+=("  want its key to say until when it cools"); }
got=()
for i in 1 2 3 4; do
    out=$(dch B run -d --name "rB$i" --network cool "$IMG" sleep 600 2>&1) || { ok=0; det+=("B: run rB$i: $out"); continue; }
    got+=("$(dch B inspect -f '{{.NetworkSettings.Networks.cool.IPAddress}}' "rB$i" 2>&1)")
done
det+=("B's four containers: ${got[*]}")
[[ ${#got[@]} == 4 ]] && ! printf '%s\n' "${got[@]:0:3}" | grep -qxF "$R" && [[ ${got[3]} == "$R" ]] ||
    { ok=0; det+=("  want the first three other than $R, the fourth $R (the only one left)"); }
grep -q "is handed out before its reuse delay ended" "$ROOT/b/gipam.log" 2>/dev/null ||
    { ok=0; det+=("  B's log does not say the delay was cut short"); }
dch B rm -f rB1 rB2 rB3 rB4 >/dev/null 2>&1
for h in "${HOSTS[@]}"; do dch "$h" network rm cool >/dev/null 2>&1 || { ok=0; det+=("${NODE[$h]}: network rm cool failed"); }; done
KV=$(etcd_kv /gipam/)
[[ -z $(kv_keys "^/gipam/pools/$COOL_POOL") ]] || { ok=0; det+=("keys of $COOL_POOL left: $(kv_keys "^/gipam/pools/$COOL_POOL" | xargs)"); }
if (( ok )); then pass "5 a reuse delay on a shared network: ${NODE[A]}'s released $R cools for ${NODE[B]}, whose containers take the other three, then $R as the only one left; no key of the pool is left after network rm"
else fail "5 a reuse delay on a shared network: what ${NODE[A]} released cools for ${NODE[B]}" "${det[@]}"; fi

# ---------------------------------------------------------------------------
# 6. everything removed: first the containers and the host networks, then lan on A, then on B

for h in "${HOSTS[@]}"; do spawn "rm$h" "$h" rm -f c${h}1 c${h}2 c${h}3; done
join
for n in "${NETS[@]}"; do spawn "rm$n" "${n:1:1}" network rm "$n"; done
join
ok=1 det=()
for j in "${!JOB_RC[@]}"; do
    [[ $j == rm* ]] && (( JOB_RC[$j] != 0 )) && { ok=0; det+=("$j: exit ${JOB_RC[$j]}: ${JOB_OUT[$j]}"); }
done
out=$(dch A network rm lan 2>&1) || { ok=0; det+=("hostA network rm lan: $out"); }
KV=$(etcd_kv /gipam/)
left=$(kv_keys "^/gipam/pools/$POOL"; kv_keys ^/gipam/blocks/)
det+=("left in etcd with lan on hostB only:" $left)
[[ $(kv_keys ^/gipam/blocks/) == "$(block_key "$LAN")" ]] || { ok=0; det+=("want only lan's block"); }
kv_get "/gipam/pools/$POOL/holders/hostB" >/dev/null && ! kv_get "/gipam/pools/$POOL/holders/hostA" >/dev/null ||
    { ok=0; det+=("want hostB as lan's only holder"); }
[[ -z $(kv_keys "^/gipam/pools/$POOL/addresses/" | grep -vxF "/gipam/pools/$POOL/addresses/${LGW[A]}") ]] ||
    { ok=0; det+=("want the gateway as lan's only address"); }
if (( ok )); then pass "6 containers and host networks removed, lan removed on hostA: only lan's pool, block and gateway are left, held by hostB"
else fail "6 containers and host networks removed, lan removed on hostA: only lan's pool, block and gateway are left, held by hostB" "${det[@]}"; fi

out=$(dch B network rm lan 2>&1); rc=$?
KV=$(etcd_kv /gipam/)
left=$(kv_keys ^/gipam/blocks/; kv_keys ^/gipam/pools/; kv_keys ^/gipam/names/)
DETAIL="hostB network rm lan: exit $rc $out"$'\n'"left: $(echo $left)"$'\n'"all keys: $(cut -f1 <<<"$KV" | xargs)"
check "6 lan removed on hostB too: no /gipam/blocks, /gipam/pools or /gipam/names key is left, /gipam/config stays" \
    eval '(( rc == 0 )) && [[ -z $left ]] && kv_get /gipam/config >/dev/null'
pa=$(lease_pools "$ROOT/a/state/leases.json") pb=$(lease_pools "$ROOT/b/state/leases.json")
DETAIL="hostA: [$pa], hostB: [$pb]"
check "6 neither host's lease file holds a pool" eval '[[ -z $pa && -z $pb ]]'

# the EXIT trap (cleanup_mh, then finish_run) prints the logs on failure and the summary last
exit $(( FAILED == 0 ? 0 : 1 ))
