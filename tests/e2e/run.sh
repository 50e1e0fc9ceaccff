#!/usr/bin/env bash
# End-to-end test: drive a real, private dockerd against the gipam binary.
#
#   bash tests/e2e/run.sh /path/to/gipam
#
# Exit status: 0 all checks passed, 1 a check failed (or the harness broke),
# 77 dockerd cannot run on this machine (prints "SKIP: <reason>").
#
# Everything lives in one mktemp -d directory $T:
#   * its own dockerd (tests/support/private_dockerd.sh: own data root, exec root and
#     API socket, own mount and network namespace), with $T/plugins mounted over
#     /run/docker/plugins, where it looks for <name>.sock.
#   * gipam runs on the host with --socket $T/plugins/<name>.sock.
#   * the image is a busybox rootfs imported with `docker import`.
# No packet is ever sent to a container address; addresses are read with
# `docker exec C ip -o addr`.
#
# Environment knobs (all optional):
#   DOCKER=/path/to/docker   CLI to use (default /usr/bin/docker = the docker.io one)
#   E2E_KEEP=1               keep the temp dir (logs, lease file) after the run
#   E2E_TIMEOUT=300          watchdog for the whole run, seconds

set -u -o pipefail
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"

GIPAM_BIN=${1:-}
NAME="gipam-e2e-$$"   # the plugin's name, also the private dockerd's tag
V4_SUPER=198.18.0.0/16
V6_SUPER=2001:db8:100::/56
KEEP_TEMP_DIR=${E2E_KEEP:-0}

GPID=""          # gipam
IMG="gipam-e2e-img:latest"
N4="" G4="" N6="" G6="" NET_ERR="" A4="" A6="" ADDR_OUT="" RUN_OUT=""
NETS=()          # networks created successfully (removed again in check 7)

die() { fail "harness: $1" "${@:2}"; exit 1; }

# ---------------------------------------------------------------------------
# lease file

# lease file contains prefix/address text (not as part of a longer one)?
lease_has() {
    local re
    re=$(printf '%s' "$1" | sed 's/[.]/\\./g')
    grep -Eq "(^|[^0-9a-fA-F:.])${re}([^0-9]|\$)" "$T/leases.json" 2>/dev/null
}
# lease file holds ADDRESS, alone or inside a run "FIRST-LAST"?
lease_holds() {
    python3 - "$T/leases.json" "$1" <<'EOF'
import ipaddress as ia, json, sys
want = ia.ip_address(sys.argv[2])
for pool in json.load(open(sys.argv[1])).get("pools", []):
    for run in pool["addresses"]:
        first, _, last = run.partition("-")
        first, last = ia.ip_address(first), ia.ip_address(last or first)
        if first.version == want.version and first <= want <= last:
            sys.exit(0)
sys.exit(1)
EOF
}

# held_in POOL: how many addresses the lease file holds in pool POOL
held_in() {
    python3 - "$T/leases.json" "$1" <<'EOF'
import ipaddress as ia, json, sys
held = 0
for pool in json.load(open(sys.argv[1])).get("pools", []):
    if pool["pool"] != sys.argv[2]:
        continue
    for run in pool["addresses"]:
        first, _, last = run.partition("-")
        held += int(ia.ip_address(last or first)) - int(ia.ip_address(first)) + 1
print(held)
EOF
}

# ---------------------------------------------------------------------------
# docker helpers

# net_info NET -> N4 G4 N6 G6 (subnet/gateway per family)
net_info() {
    local out line s g
    N4="" G4="" N6="" G6=""
    out=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}|{{.Gateway}}{{"\n"}}{{end}}' "$1" 2>&1) || {
        NET_ERR=$out; return 1; }
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        s=${line%%|*}; g=${line#*|}
        if [[ $s == *:* ]]; then N6=$s; G6=$g; else N4=$s; G4=$g; fi
    done <<<"$out"
    NET_ERR=""
    return 0
}

RUN_CMD=(sh -c 'trap "exit 0" TERM; sleep 3600 & wait')
# run_c NAME NET [docker run args...]  -> RUN_OUT, status
run_c() {
    local n=$1 net=$2; shift 2
    ADDR_OUT=""
    RUN_OUT=$(dc run -d --name "$n" --network "$net" --stop-timeout 2 "$@" "$IMG" "${RUN_CMD[@]}" 2>&1)
}
# c_addrs NAME -> A4 A6 (addr/len of eth0), ADDR_OUT raw
c_addrs() {
    A4="" A6=""
    ADDR_OUT=$(dc exec "$1" ip -o addr show dev eth0 2>&1) || return 1
    A4=$(awk '$3 == "inet" { print $4; exit }' <<<"$ADDR_OUT")
    A6=$(awk '$3 == "inet6" && !/scope link/ { print $4; exit }' <<<"$ADDR_OUT")
    return 0
}
running_addrs() {   # all v4/v6 addresses of all running containers, one per line
    local c
    for c in $(dc ps -q); do
        c_addrs "$c" || continue
        [[ -n $A4 ]] && echo "${A4%/*}"
        [[ -n $A6 ]] && echo "${A6%/*}"
    done
}

# ---------------------------------------------------------------------------
# gipam process

start_gipam() {
    "$GIPAM_BIN" --socket "$SOCK" --name "$NAME" --file "$T/leases.json" \
        -v4 "$V4_SUPER" -v6 "$V6_SUPER" "$@" >>"$T/gipam.log" 2>&1 &
    GPID=$!
}
sock_stamp() { stat -c '%i %z' "$SOCK" 2>/dev/null; }
# wait_gipam OLDSTAMP: until gipam answers (curl) or a new socket inode appears
wait_gipam() {
    local old=${1:-} end=$((SECONDS + 15))
    while (( SECONDS < end )); do
        alive "$GPID" || return 1
        if [[ -S $SOCK ]]; then
            if command -v curl >/dev/null; then
                # like dockerd: POST with Content-Length: 0
                timeout 2 curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Length: 0' \
                    http://plugin/Plugin.Activate 2>/dev/null | grep -q IpamDriver && return 0
            elif [[ $(sock_stamp) != "$old" ]]; then
                return 0
            fi
        fi
        sleep 0.25
    done
    return 1
}
stop_gipam() {
    alive "$GPID" && terminate gipam "$GPID" 10
    GPID=""
}

# Before the temp dir goes (tap.sh's finish_run): containers, dockerd and gipam stopped by PID,
# their logs shown if anything failed, leaked mounts and cgroups removed.
cleanup_e2e() {
    local rc=$1
    dockerd_remove_containers
    dockerd_stop
    stop_gipam
    if run_failed "$rc"; then
        [[ -s $T/gipam.log ]] && tail -n 150 "$T/gipam.log" | log_section "gipam log (last 150 lines)"
        if [[ -s $T/dockerd.log ]]; then
            grep -E 'level=(error|warning|fatal)' "$T/dockerd.log" | tail -n 40 |
                log_section "dockerd log: errors/warnings (last 40)"
        fi
        if [[ -f $T/leases.json ]]; then
            head -c 4000 "$T/leases.json" | log_section "lease file"; echo
        fi
    fi
    dockerd_remove_leftovers
}

# ---------------------------------------------------------------------------
# preflight

require_gipam_bin

# Only root can install; dockerd_preflight skips for anyone else.
if [[ $(id -u) == 0 ]] && { ! command -v dockerd >/dev/null || [[ ! -x /bin/busybox ]]; }; then
    log "installing docker.io busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get install -y docker.io busybox-static >/dev/null 2>&1; then
        timeout 300 apt-get update >/dev/null 2>&1
        timeout 600 apt-get install -y docker.io busybox-static >/dev/null 2>&1
    fi
    hash -r
fi
dockerd_preflight
[[ -x /bin/busybox ]] || skip "/bin/busybox not installed and could not be installed"

make_temp_dir gipam-e2e cleanup_e2e
start_watchdog "${E2E_TIMEOUT:-300}"
SOCK="$T/plugins/$NAME.sock"
dockerd_prepare "$NAME" "$T/plugins"
log "temp dir $T, plugin name $NAME, docker CLI $DOCKER"

start_gipam
wait_gipam "" || die "gipam did not start serving on $SOCK within 15s"

dockerd_start_or_skip
dockerd_import_busybox "$IMG" sh ip sleep cat ls ps echo true
log "dockerd up (pid $DOCKERD_PID), image imported, $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# 1. dual-stack network from the supernets

out=$(dc network create --ipam-driver "$NAME" --ipv6 net1 2>&1)
if [[ $? -ne 0 ]]; then
    fail "1 dual-stack network create" "$out"
else
    NETS+=(net1)
    net_info net1
    net1_config="net1 IPAM config: v4 $N4 gw $G4, v6 $N6 gw $G6 $NET_ERR"
    DETAIL=$net1_config
    check "1 net1 has a /24 inside $V4_SUPER with gateway .1" \
        eval 'is_block "$N4" 24 "$V4_SUPER" && [[ $G4 == "$(first_host "$N4")" ]]'
    DETAIL=$net1_config
    check "1 net1 has a /64 inside $V6_SUPER with gateway ::1" \
        eval 'is_block "$N6" 64 "$V6_SUPER" && [[ $(canon "$G6") == "$(first_host "$N6")" ]]'
fi
NET1_N4=$N4 NET1_N6=$N6 NET1_G4=$G4 NET1_G6=$G6

# 2. two containers on net1
ok2=1 det2=()
declare -A C4 C6
for c in c1 c2; do
    if ! run_c $c net1; then ok2=0; det2+=("docker run $c: $RUN_OUT"); continue; fi
    if ! c_addrs $c; then ok2=0; det2+=("exec $c: $ADDR_OUT"); continue; fi
    C4[$c]=$A4 C6[$c]=$A6
    det2+=("$c: v4 $A4 v6 $A6")
    in_cidr "$A4" "$NET1_N4" && [[ ${A4#*/} == "${NET1_N4#*/}" ]] || { ok2=0; det2+=("$c v4 $A4 not in $NET1_N4"); }
    in_cidr "$A6" "$NET1_N6" && [[ ${A6#*/} == "${NET1_N6#*/}" ]] || { ok2=0; det2+=("$c v6 $A6 not in $NET1_N6"); }
    [[ $(canon "$A4") != "$NET1_G4" && $(canon "$A6") != "$(canon "$NET1_G6")" ]] || { ok2=0; det2+=("$c got the gateway address"); }
done
if (( ok2 )); then
    [[ $(canon "${C4[c1]}") != "$(canon "${C4[c2]}")" ]] || { ok2=0; det2+=("same v4 address"); }
    [[ $(canon "${C6[c1]}") != "$(canon "${C6[c2]}")" ]] || { ok2=0; det2+=("same v6 address"); }
fi
if (( ok2 )); then pass "2 c1 and c2 on net1 get distinct v4 and v6 addresses inside its subnets"
else fail "2 c1 and c2 on net1 get distinct v4 and v6 addresses inside its subnets" "${det2[@]}"; fi

# 3. static subnets, ip-range, gateway, aux, --ip/--ip6
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.200.0/24 --ip-range 198.18.200.128/25 \
      --gateway 198.18.200.1 --aux-address a=198.18.200.5 --ipv6 --subnet 2001:db8:200::/64 net2 2>&1)
if [[ $? -ne 0 ]]; then
    fail "3 static dual-stack network create" "$out"
else
    NETS+=(net2)
    net_info net2
    DETAIL="net2 IPAM config: v4 $N4 gw $G4, v6 $N6 gw $G6 $NET_ERR"
    check "3 net2 has exactly 198.18.200.0/24 gw 198.18.200.1 and 2001:db8:200::/64" \
        eval '[[ $N4 == 198.18.200.0/24 && $G4 == 198.18.200.1 && $N6 == 2001:db8:200::/64 ]]'
fi
if run_c c3 net2 --ip 198.18.200.10 --ip6 2001:db8:200::10 && c_addrs c3; then
    DETAIL="c3: v4 $A4 v6 $A6"
    check "3 c3 with --ip/--ip6 gets exactly 198.18.200.10/24 and 2001:db8:200::10/64" \
        eval '[[ $A4 == 198.18.200.10/24 && $(canon "$A6") == "$(canon 2001:db8:200::10)" && ${A6#*/} == 64 ]]'
else
    fail "3 c3 with --ip/--ip6 gets exactly those" "$RUN_OUT" "${ADDR_OUT:-}"
fi
if run_c c4 net2 && c_addrs c4; then
    DETAIL="c4: v4 $A4 v6 $A6"
    check "3 c4 without --ip gets a v4 address in the ip-range 198.18.200.128/25 (and v6 in 2001:db8:200::/64)" \
        eval 'in_cidr "$A4" 198.18.200.128/25 && [[ ${A4#*/} == 24 ]] && in_cidr "$A6" 2001:db8:200::/64'
else
    fail "3 c4 without --ip gets an address in the ip-range" "$RUN_OUT" "${ADDR_OUT:-}"
fi

# 4. refusals
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.200.0/25 net-ovl 2>&1); rc=$?
DETAIL="exit $rc: $out"
check "4 overlapping --subnet 198.18.200.0/25 is refused naming both prefixes" \
    eval '(( rc != 0 )) && [[ $out == *IpamDriver.RequestPool* && $out == *198.18.200.0/25* && $out == *198.18.200.0/24* ]]'
(( rc == 0 )) && dc network rm net-ovl >/dev/null 2>&1

out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.201.5/24 net-hostbits 2>&1); rc=$?
DETAIL="exit $rc: $out"
# dockerd 20.10 asks gipam, which refuses it; newer ones refuse it themselves, asking nothing.
check "4 --subnet 198.18.201.5/24 (host bits) is refused naming it, and no pool made for it" \
    eval '(( rc != 0 )) && [[ $out == *198.18.201.5/24* ]] && ! lease_has 198.18.201.0/24 &&
          [[ $GIPAM_DOCKERD != bookworm || $out == *IpamDriver.RequestPool* ]]'
(( rc == 0 )) && dc network rm net-hostbits >/dev/null 2>&1

run_c c5 net2 --ip 198.18.200.10; rc=$?
DETAIL="exit $rc: $RUN_OUT"
check "4 --ip 198.18.200.10 (held by c3) is refused naming it" \
    eval '(( rc != 0 )) && [[ $RUN_OUT == *IpamDriver.RequestAddress* && $RUN_OUT == *198.18.200.10* ]]'
dc rm -f c5 >/dev/null 2>&1

run_c c5b net2 --ip 198.18.200.5; rc=$?
DETAIL="exit $rc: $RUN_OUT"
check "4 --ip 198.18.200.5 (aux address) is refused" \
    eval '(( rc != 0 )) && [[ $RUN_OUT == *IpamDriver.RequestAddress* && $RUN_OUT == *198.18.200.5* ]]'
dc rm -f c5b >/dev/null 2>&1

# 5. pool options
out=$(dc network create --ipam-driver "$NAME" --ipam-opt v4ab=26 net3 2>&1)
if [[ $? -ne 0 ]]; then
    fail "5 --ipam-opt v4ab=26 network create" "$out"
else
    NETS+=(net3)
    net_info net3
    DETAIL="net3: v4 $N4 gw $G4 $NET_ERR"
    check "5 --ipam-opt v4ab=26 gives a /26 inside $V4_SUPER" eval 'is_block "$N4" 26 "$V4_SUPER"'
fi
out=$(dc network create --ipam-driver "$NAME" --ipam-opt com.docker.network.ipam.serial=true net4 2>&1)
if [[ $? -ne 0 ]]; then
    fail "5 serial network create" "$out"
else
    NETS+=(net4)
    net_info net4
    if run_c c6 net4 && c_addrs c6; then
        first=$A4
        out=$(dc stop -t 2 c6 2>&1)
        if run_c c7 net4 && c_addrs c7; then
            DETAIL="net4 $N4: c6 had $first, c7 got $A4"
            check "5 serial pool: c7 does not get c6's released address" \
                eval '[[ -n $A4 && $A4 != "$first" ]] && in_cidr "$A4" "$N4"'
        else
            fail "5 serial pool: c7 starts" "$RUN_OUT" "${ADDR_OUT:-}"
        fi
    else
        fail "5 serial pool: c6 starts" "$RUN_OUT" "${ADDR_OUT:-}"
    fi
fi

# 6. kill -9 gipam, restart, no duplicate addresses/pools
stamp=$(sock_stamp)
kill -KILL "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; GPID=""
start_gipam
if ! wait_gipam "$stamp"; then
    fail "6 gipam restarts after kill -9 (stale socket left behind)" "$(tail -n 20 "$T/gipam.log")"
else
    pass "6 gipam restarts after kill -9 (stale socket left behind)"
    inuse_txt=$(running_addrs; echo "$NET1_G4"; echo "$NET1_G6"; echo 198.18.200.1; echo 198.18.200.5)
    inuse=$(for a in $inuse_txt; do canon "$a"; done)
    ok6=1 det6=()
    for spec in "c8 net1" "c9 net2"; do
        set -- $spec
        if run_c "$1" "$2" && c_addrs "$1"; then
            det6+=("$1 on $2: v4 $A4 v6 $A6")
            for a in "$A4" "$A6"; do
                [[ -z $a ]] && { ok6=0; det6+=("$1 has no address"); continue; }
                if grep -qxF "$(canon "$a")" <<<"$inuse"; then ok6=0; det6+=("$a is already in use"); fi
            done
        else
            ok6=0; det6+=("$1: $RUN_OUT ${ADDR_OUT:-}")
        fi
    done
    det6+=("in use before: $(echo $inuse_txt)")
    if (( ok6 )); then pass "6 after restart new containers get no address already in use"
    else fail "6 after restart new containers get no address already in use" "${det6[@]}"; fi

    out=$(dc network create --ipam-driver "$NAME" --ipv6 net5 2>&1)
    if [[ $? -ne 0 ]]; then
        fail "6 after restart a new network gets pools overlapping no existing one" "$out"
    else
        NETS+=(net5)
        net_info net5; n5="$N4 $N6"; ok=1; held=""
        for n in net1 net2 net3 net4; do
            net_info $n || continue; held+="$N4 $N6 "
            for p in $n5; do
                for q in $N4 $N6; do overlaps "$p" "$q" && ok=0; done
            done
        done
        DETAIL="net5: $n5; held: $held"
        check "6 after restart a new network gets pools overlapping no existing one" eval '(( ok ))'
    fi
fi

# 8. dockerd restart (done before 7, which removes the networks)
if ! dockerd_restart; then
    fail "8 dockerd restarts" "$(tail -n 20 "$T/dockerd.log")"
else
    pass "8 dockerd restarts with the existing networks"
    if run_c c10 net1 && c_addrs c10; then
        DETAIL="c10: v4 $A4 v6 $A6; net1 $NET1_N4 $NET1_N6"
        check "8 after dockerd restart net1 serves a new container" \
            eval 'in_cidr "$A4" "$NET1_N4" && in_cidr "$A6" "$NET1_N6"'
    else
        fail "8 after dockerd restart net1 serves a new container" "$RUN_OUT" "${ADDR_OUT:-}"
    fi
    if run_c c11 net2 --ip 198.18.200.10 --ip6 2001:db8:200::10 && c_addrs c11; then
        DETAIL="c11: v4 $A4 v6 $A6"
        check "8 c3's static addresses were released when dockerd stopped it and can be reused" \
            eval '[[ $A4 == 198.18.200.10/24 ]]'
    else
        fail "8 c3's static addresses were released when dockerd stopped it and can be reused" "$RUN_OUT" "${ADDR_OUT:-}"
    fi
fi

# 7. network rm releases the pools
cs=$(dc ps -aq)
[[ -n $cs ]] && dc rm -f $cs >/dev/null 2>&1
for n in "${NETS[@]}"; do
    net_info $n || { fail "7 docker network rm $n" "inspect: $NET_ERR"; continue; }
    pools=$(echo $N4 $N6)
    missing=""
    for p in $pools; do lease_has "$p" || missing+="$p "; done
    out=$(dc network rm $n 2>&1)
    if [[ $? -ne 0 ]]; then fail "7 docker network rm $n" "$out"; continue; fi
    left=""
    for p in $pools; do lease_has "$p" && left+="$p "; done
    DETAIL="not in the lease file before rm: ${missing:-none}; still in it after rm: ${left:-none}"
    check "7 docker network rm $n: pools $pools (in the lease file before) gone from the lease file" \
        eval '[[ -z $missing && -z $left ]]'
done

# 9. a failed create leaves nothing held
# 9a: the aux request fails (aux = gateway address): dockerd sends ReleasePool only,
#     without releasing the gateway first, so ReleasePool must free everything.
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.210.0/24 --gateway 198.18.210.1 \
      --aux-address a=198.18.210.1 net9 2>&1); rc=$?
DETAIL="exit $rc: $out; lease file has 198.18.210.0/24: $(lease_has 198.18.210.0/24 && echo yes || echo no)"
check "9 create whose aux address (= gateway) is refused fails and leaves 198.18.210.0/24 unheld" \
    eval '(( rc != 0 )) && ! lease_has 198.18.210.0/24'
(( rc == 0 )) && dc network rm net9 >/dev/null 2>&1
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.210.0/24 net9b 2>&1); rc=$?
DETAIL="exit $rc: $out"
check "9 198.18.210.0/24 can be used again after that failed create (and is then in the lease file)" \
    eval '(( rc == 0 )) && lease_has 198.18.210.0/24'
(( rc == 0 )) && dc network rm net9b >/dev/null 2>&1

# 9b: the v6 pool request fails (overlap): dockerd releases the whole v4 side.
out=$(dc network create --ipam-driver "$NAME" --ipv6 --subnet 2001:db8:220::/64 net10 2>&1)
if [[ $? -ne 0 ]]; then
    fail "9 helper network net10 (2001:db8:220::/64)" "$out"
else
    out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.211.0/24 --aux-address a=198.18.211.5 \
          --ipv6 --subnet 2001:db8:220::/64 net11 2>&1); rc=$?
    DETAIL="exit $rc: $out; lease file has 198.18.211.0/24: $(lease_has 198.18.211.0/24 && echo yes || echo no), has net10's 2001:db8:220::/64: $(lease_has 2001:db8:220::/64 && echo yes || echo no)"
    check "9 create failing at the v6 pool (overlap) fails and leaves its v4 pool 198.18.211.0/24 unheld" \
        eval '(( rc != 0 )) && ! lease_has 198.18.211.0/24 && lease_has 2001:db8:220::/64'
    (( rc == 0 )) && dc network rm net11 >/dev/null 2>&1
    dc network rm net10 >/dev/null 2>&1
fi

# 9c (informational, not counted): an aux address outside the subnet can only be
# sent through the raw API (the CLI refuses it). dockerd 20.10 then returns
# "must belong to the master pool" WITHOUT sending ReleasePool, so the pool leaks
# in the plugin whatever the plugin does.
if command -v curl >/dev/null; then
    body='{"Name":"net12","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"'"$NAME"'","Options":{},"Config":[{"Subnet":"198.18.212.0/24","AuxiliaryAddresses":{"a":"198.18.213.5"}}]}}'
    out=$(timeout 60 curl -s -w ' HTTP %{http_code}' --unix-socket "$T/docker.sock" \
          -H 'Content-Type: application/json' -d "$body" http://docker/v1.41/networks/create 2>&1)
    log "info: raw-API create with aux outside the subnet: $(tr -d "\n" <<<"$out")"
    if lease_has 198.18.212.0/24; then
        log "info: 198.18.212.0/24 is still held by the plugin after that failure (dockerd sent no ReleasePool)"
    else
        log "info: 198.18.212.0/24 is not held after that failure"
    fi
fi

# 9d. docker-compose: a project's two networks on gipam (one any block, one with a subnet, an
# ip-range and a service's static address) come up with every container on gipam's addresses, and
# `down` gives every pool and address back; up and down again, the same.
CDIR=$T/compose CPROJECT=gipame2e$$
mkdir -p "$CDIR"
cat >"$CDIR/docker-compose.yml" <<EOF
version: "2.4"
services:
  web:
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    stop_grace_period: 2s
    scale: 3
    networks: [front]
  db:
    image: $IMG
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    stop_grace_period: 2s
    networks:
      back:
        ipv4_address: 198.18.214.20
networks:
  front:
    ipam: {driver: $NAME}
  back:
    ipam:
      driver: $NAME
      config:
        - subnet: 198.18.214.0/24
          ip_range: 198.18.214.128/25
EOF
compose() { timeout -k 5 120 docker-compose --no-ansi -f "$CDIR/docker-compose.yml" -p "$CPROJECT" "$@"; }
if ! command -v docker-compose >/dev/null; then
    fail "9 docker-compose is installed (scripts/deps test installs it)"
else
    for round in 1 2; do
        out=$(compose up -d 2>&1); rc=$?
        front=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "${CPROJECT}_front" 2>&1)
        ok=1 det=("compose up: exit $rc${out:+: $(tail -n 3 <<<"$out" | tr '\n' ' ')}" "front: $front")
        (( rc == 0 )) || ok=0
        is_block "$front" 24 "$V4_SUPER" || { ok=0; det+=("front's subnet is no /24 of $V4_SUPER"); }
        declare -A held=()
        n=0
        for c in $(compose ps -q 2>/dev/null); do
            n=$((n + 1))
            name=$(dc inspect -f '{{.Name}}' "$c" 2>&1) a=$(dc inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c" 2>&1)
            det+=("${name#/}: $a")
            case $name in
                *_db_*) [[ $a == 198.18.214.20 ]] || { ok=0; det+=("  want 198.18.214.20"); } ;;
                *) in_cidr "$a" "$front" || { ok=0; det+=("  not in front's $front"); } ;;
            esac
            [[ -n ${held[$a]:-} ]] && { ok=0; det+=("  also ${held[$a]}'s"); }
            held[$a]=${name#/}
            lease_holds "$a" || { ok=0; det+=("  not in the lease file"); }
        done
        (( n == 4 )) || { ok=0; det+=("$n containers, want 4"); }
        if (( ok )); then pass "9 compose up (round $round): 3 web on front ($front), db at 198.18.214.20 on back, distinct, all in the lease file"
        else fail "9 compose up (round $round): 3 web on front, db at 198.18.214.20 on back, distinct, all in the lease file" "${det[@]}"; fi
        unset held
        out=$(compose down 2>&1); rc=$?
        DETAIL="compose down: exit $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
        check "9 compose down (round $round) gives back both pools ($front, 198.18.214.0/24) and their addresses" \
            eval '(( rc == 0 )) && ! lease_has "$front" && ! lease_has 198.18.214.0/24 && ! lease_has 198.18.214.20'
    done
fi

# 9e. what newer dockerds ask (tests/e2e/README.md has the observed sequences)
# --ip outside --ip-range: granted exactly, as any address of the pool (all versions).
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.216.0/24 --ip-range 198.18.216.128/25 net16 2>&1) ||
    fail "9 network create net16 (ip-range 198.18.216.128/25)" "$out"
if run_c c16 net16 --ip 198.18.216.10; then
    c_addrs c16; DETAIL="c16: $A4"
    check "9 --ip 198.18.216.10, outside --ip-range 198.18.216.128/25, is granted and in the lease file" \
        eval '[[ ${A4%/*} == 198.18.216.10 ]] && lease_holds 198.18.216.10'
else
    fail "9 --ip 198.18.216.10 outside --ip-range 198.18.216.128/25 is granted" "$RUN_OUT"
fi
dc rm -f c16 >/dev/null 2>&1; dc network rm net16 >/dev/null 2>&1

# A block that overlaps a route of dockerd's: dockerd asks RequestPool again while it holds the
# first grant, then releases that one. gipam must hand out another block, and keep neither twice.
next_block=$(python3 - "$T/leases.json" "$V4_SUPER" <<'EOF'
import ipaddress as ia, json, sys
held = [ia.ip_network(p["pool"]) for p in json.load(open(sys.argv[1])).get("pools", [])]
for block in ia.ip_network(sys.argv[2]).subnets(new_prefix=24):
    if not any(block.overlaps(h) for h in held):
        print(block); break
EOF
)
ns() { nsenter -t "$DOCKERD_PID" -n "$@"; }
if ns ip link add gipam-ovl0 type veth peer name gipam-ovl1 2>/dev/null && ns ip link set gipam-ovl0 up &&
   ns ip route add "$next_block" dev gipam-ovl0 2>/dev/null; then
    out=$(dc network create --ipam-driver "$NAME" net17 2>&1); rc=$?
    net_info net17; got=$N4
    DETAIL="exit $rc: $out; route $next_block; net17: $got"
    check "9 a create whose first block ($next_block) overlaps a route gets another block, and $next_block is not left held" \
        eval '(( rc == 0 )) && [[ -n $got ]] && ! overlaps "$got" "$next_block" && lease_has "$got" && ! lease_has "$next_block"'
    dc network rm net17 >/dev/null 2>&1
    ns ip link del gipam-ovl0 2>/dev/null
else
    fail "9 harness: a veth pair and a route for $next_block in dockerd's namespace"
fi

if [[ $GIPAM_DOCKERD == sid ]]; then
    # 28+: IPv6-only networks ask for no IPv4 pool at all.
    out=$(dc network create --ipam-driver "$NAME" --ipv4=false --ipv6 net18 2>&1); rc=$?
    net_info net18
    DETAIL="exit $rc: $out; net18: v4 [$N4] v6 [$N6] gateway [$G6]"
    check "9 --ipv4=false --ipv6 (28+) gets a /64 of $V6_SUPER and no IPv4 pool" \
        eval '(( rc == 0 )) && [[ -z $N4 ]] && is_block "$N6" 64 "$V6_SUPER" && lease_has "$N6"'
    if (( rc == 0 )) && run_c c18 net18; then
        c_addrs c18; DETAIL="c18: v4 [$A4] v6 [$A6]"
        check "9 a container on the IPv6-only net18 gets an address of $N6 only" eval '[[ -z $A4 ]] && in_cidr "${A6%/*}" "$N6"'
    fi
    dc rm -f c18 >/dev/null 2>&1; dc network rm net18 >/dev/null 2>&1
    # 28+: an internal bridge with an isolated gateway asks for no gateway; the first container
    # gets the pool's first address, and network rm is a bare ReleasePool.
    out=$(dc network create --ipam-driver "$NAME" --internal -o com.docker.network.bridge.gateway_mode_ipv4=isolated \
          --subnet 198.18.219.0/24 net19 2>&1); rc=$?
    if (( rc == 0 )) && run_c c19 net19; then
        c_addrs c19
        DETAIL="c19: $A4"
        check "9 an isolated-gateway network (28+) asks for no gateway: its first container gets 198.18.219.1" \
            eval '[[ ${A4%/*} == 198.18.219.1 ]]'
    else
        fail "9 an isolated-gateway network (28+) and a container on it" "$out $RUN_OUT"
    fi
    dc rm -f c19 >/dev/null 2>&1; dc network rm net19 >/dev/null 2>&1
    DETAIL=$(grep -c 198.18.219 "$T/leases.json")
    check "9 after rm, the isolated-gateway network's pool is gone from the lease file" eval '! lease_has 198.18.219.0/24'
fi

# 9f. exclusions (--ipam-opt gipam.exclude): never handed out, refused by value naming them
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.222.0/24 \
      --ipam-opt gipam.exclude=198.18.222.0/25,198.18.222.200-198.18.222.254 net20 2>&1)
if [[ $? -ne 0 ]]; then
    fail "9 network create net20 with gipam.exclude" "$out"
else
    net_info net20
    ok=1 det=("gateway ${G4:-(not shown: a --subnet without --gateway)}") g=${G4%/*}
    [[ -z $g ]] || (( ${g##*.} >= 128 && ${g##*.} <= 199 )) || { ok=0; det+=("  the gateway is excluded"); }
    # 200 containers, 8 starts at a time: the exclusions leave 72 addresses (.128-.199), one of
    # them the gateway where dockerd asks one, so the rest must be refused, each saying the pool is
    # full, and none may land in an exclusion.
    before=$(held_in 198.18.222.0/24)
    seq 1 200 | xargs -P 8 -I{} timeout -k 5 "$DC_TIMEOUT" "$DOCKER" run -d --name x20-{} --network net20 \
        --stop-timeout 2 "$IMG" "${RUN_CMD[@]}" >"$T/x20.out" 2>&1
    started=0 refused=0
    for i in $(seq 1 200); do
        if c_addrs "x20-$i" 2>/dev/null && [[ -n $A4 ]]; then
            started=$((started + 1)); a=${A4%/*}; o=${a##*.}
            (( o >= 128 && o <= 199 )) || { ok=0; det+=("x20-$i got $a, excluded"); }
        else
            refused=$((refused + 1))
        fi
    done
    det+=("started $started, not started $refused; $(grep -c 'no free IPv4 address' "$T/x20.out") said no free address")
    (( started == 72 - before )) || { ok=0; det+=("72 addresses lie outside the exclusions, $before held before"); }
    (( $(grep -c 'no free IPv4 address' "$T/x20.out") == 200 - started )) || { ok=0; det+=("$(grep -v '^[0-9a-f]*$' "$T/x20.out" | sort | uniq -c | head -n 5)"); }
    if (( ok )); then pass "9 of 200 containers on net20, the $started that fit get addresses outside its exclusions (198.18.222.0/25, .200-.254), as its gateway, the others no free address"
    else fail "9 200 containers on net20 get addresses outside its exclusions" "${det[@]}"; fi
    run_c x20-ip net20 --ip 198.18.222.210; rc=$?
    DETAIL="exit $rc: $RUN_OUT"
    check "9 --ip 198.18.222.210 in net20's exclusion is refused naming it" \
        eval '(( rc != 0 )) && [[ $RUN_OUT == *"198.18.222.210 is excluded"* && $RUN_OUT == *198.18.222.200-198.18.222.254* ]]'
    dc rm -f $(dc ps -aq --filter network=net20) >/dev/null 2>&1
    dc network rm net20 >/dev/null 2>&1
fi

# 9h. macvlan without --gateway (a veth in dockerd's namespace as its parent): 29+ ask no gateway,
# 20.10 to 28.5 still do; either way two containers get distinct addresses inside the subnet,
# neither the gateway, all held, and network rm frees the pool
if ns ip link add gipam-mv0 type veth peer name gipam-mv1 2>/dev/null && ns ip link set gipam-mv0 up; then
    out=$(dc network create -d macvlan -o parent=gipam-mv0 --ipam-driver "$NAME" --subnet 198.18.224.0/24 net22 2>&1)
    if [[ $? -ne 0 ]]; then
        fail "9 network create -d macvlan without --gateway" "$out"
    else
        net_info net22
        gateways=$(held_in 198.18.224.0/24)  # the gateway, where dockerd asked one (inspect may not show it)
        ok=1 det=("gateway: ${G4:-not shown}; held after create: $gateways")
        addrs=()
        for i in 1 2; do
            run_c "m22-$i" net22 && c_addrs "m22-$i" || { ok=0; det+=("m22-$i: $RUN_OUT ${ADDR_OUT:-}"); continue; }
            a=${A4%/*}; addrs+=("$a"); det+=("m22-$i: $a")
            in_cidr "$a" 198.18.224.0/24 && lease_holds "$a" || { ok=0; det+=("  not in the subnet or not held"); }
            [[ $a != "${G4%/*}" ]] || { ok=0; det+=("  the gateway's address"); }
        done
        [[ ${#addrs[@]} == 2 && ${addrs[0]} != "${addrs[1]}" ]] || { ok=0; det+=("not two distinct addresses"); }
        (( $(held_in 198.18.224.0/24) == gateways + 2 )) || { ok=0; det+=("held now: $(held_in 198.18.224.0/24)"); }
        asked=$( (( gateways )) && echo "dockerd asked a gateway" || echo "dockerd asked no gateway")
        if (( ok )); then pass "9 macvlan without --gateway ($asked): two containers get distinct held addresses besides it"
        else fail "9 macvlan without --gateway: two containers get distinct held addresses" "${det[@]}"; fi
        dc rm -f m22-1 m22-2 >/dev/null 2>&1; dc network rm net22 >/dev/null 2>&1
        DETAIL=$(grep -c 198.18.224 "$T/leases.json")
        check "9 after network rm, the macvlan network's pool is gone from the lease file" eval '! lease_has 198.18.224.0/24'
    fi
    ns ip link del gipam-mv0 2>/dev/null
else
    fail "9 harness: a veth pair in dockerd's namespace for a macvlan parent"
fi

# 9g. reuse delay (--ipam-opt gipam.reuse-delay): a restarted container gets a fresh address, and
# the delay survives a gipam restart; --ip into a cooling address is granted
out=$(dc network create --ipam-driver "$NAME" --subnet 198.18.223.0/24 --ipam-opt gipam.reuse-delay=1h net21 2>&1)
if [[ $? -ne 0 ]]; then
    fail "9 network create net21 with gipam.reuse-delay" "$out"
else
    ok=1 det=() seen=()
    for i in 1 2 3 4; do
        run_c "r21-$i" net21 && c_addrs "r21-$i" || { ok=0; det+=("r21-$i: $RUN_OUT ${ADDR_OUT:-}"); break; }
        a=${A4%/*}; det+=("r21-$i: $a")
        for s in "${seen[@]}"; do [[ $s == "$a" ]] && { ok=0; det+=("  $a handed out again within the delay"); }; done
        seen+=("$a")
        dc rm -f "r21-$i" >/dev/null 2>&1
        if (( i == 2 )); then
            stamp=$(sock_stamp); stop_gipam; start_gipam
            wait_gipam "$stamp" || { ok=0; det+=("gipam did not restart: $(tail -n 5 "$T/gipam.log")"); break; }
            det+=("(gipam restarted)")
        fi
    done
    if (( ok )); then pass "9 a container run 4 times on net21 (reuse delay 1h, gipam restarted midway) gets 4 addresses"
    else fail "9 a container run 4 times on net21 (reuse delay 1h, gipam restarted midway) gets 4 addresses" "${det[@]}"; fi
    cooling=$("$GIPAM_BIN" leases -file "$T/leases.json" -v --json 2>&1 |
              jq -c '.pools[] | select(.pool == "198.18.223.0/24") | [.cooling, (.coolingUntil | keys)]' 2>&1)
    DETAIL="gipam leases: $cooling"
    check "9 gipam leases shows net21's 4 released addresses cooling" eval '[[ $cooling == "[4,"* ]]'
    run_c r21-ip net21 --ip "${seen[0]}" && c_addrs r21-ip; rc=$?
    DETAIL="exit $rc: $RUN_OUT; r21-ip: $A4"
    check "9 --ip ${seen[0]} on net21, still cooling, is granted" eval '(( rc == 0 )) && [[ ${A4%/*} == "${seen[0]}" ]]'
    dc rm -f $(dc ps -aq --filter network=net21) >/dev/null 2>&1
    dc network rm net21 >/dev/null 2>&1
fi

# 10. SIGTERM stops gipam and removes its socket
if alive "$GPID"; then
    kill -TERM "$GPID"
    wait_gone "$GPID" 10; gone=$?
    DETAIL="exited: $( (( gone == 0 )) && echo yes || echo no); socket left: $([[ -e $SOCK ]] && echo yes || echo no)"
    check "10 gipam exits on SIGTERM and removes its socket" eval '(( gone == 0 )) && [[ ! -e $SOCK ]]'
else
    fail "10 gipam still running at the end" "$(tail -n 20 "$T/gipam.log")"
fi

# the EXIT trap (cleanup_e2e, then finish_run) prints the logs on failure and the summary last
exit $(( FAILED == 0 ? 0 : 1 ))
