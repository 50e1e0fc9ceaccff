#!/usr/bin/env bash
# End-to-end migration test: a dockerd that has been using the Go gipam switches to this gipam
# WITHOUT being restarted, which is what "migrating is one restart" (of the plugin) promises.
#
#   bash tests/e2e/migration.sh /path/to/gipam
#
# Exit status: 0 all checks passed, 1 a check failed (or the harness broke), 77 skip ("SKIP: ...").
#
# go_gipam_standin.py plays the Go gipam on $T/plugins/<name>.sock: empty address-space names
# (which dockerd 20.10/23 caches for its lifetime), random 16-character pool IDs, and addresses up
# to and including the IPv4 broadcast. Its blocks are /29 so that six containers reach the
# broadcast. Then the stand-in is stopped, gipam starts on the same socket with the stand-in's
# lease file, and the same dockerd keeps going: old networks, new networks, releases.
#
# Environment knobs: DOCKER (CLI), E2E_KEEP=1 (keep $T), E2E_TIMEOUT (watchdog, default 300 s).

set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/tap.sh"
source "$here/../support/cidr.sh"
source "$here/../support/private_dockerd.sh"

GIPAM_BIN=${1:-}
NAME="gipam-mig-$$"          # the plugin's name, also the private dockerd's tag
V4_SUPER=198.18.0.0/16 V4AB=29
V6_SUPER=2001:db8:100::/56   # the Go tool refuses v4 blocks without a v6 supernet; real users set one
KEEP_TEMP_DIR=${E2E_KEEP:-0}
IMG="gipam-mig-img:latest"
SPID="" GPID="" RUN_OUT=""
RUN_CMD=(sh -c 'trap "exit 0" TERM; sleep 3600 & wait')

die() { fail "harness: $1" "${@:2}"; exit 1; }

# run_c NAME NET: a detached container; RUN_OUT holds the CLI's output
run_c() { RUN_OUT=$(dc run -d --name "$1" --network "$2" --stop-timeout 2 "$IMG" "${RUN_CMD[@]}" 2>&1); }
# ip_of NAME NET: the container's IPv4 address on NET, as dockerd reports it
ip_of() { dc inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1" 2>/dev/null; }
subnet_of() { dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$1" 2>/dev/null; }
gateway_of() { dc network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$1" 2>/dev/null; }
# in_use: every address dockerd holds: all containers' addresses and all our networks' gateways
in_use() {
    local c n
    for c in $(dc ps -q); do
        dc inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{"\n"}}{{end}}' "$c"
    done
    for n in $(dc network ls -q -f driver=bridge); do gateway_of "$n"; echo; done
}

# lease pools | lease holds ADDR... | lease holds_none ADDR...: reads the lease file in either
# format (the Go tool's until gipam first writes it, gipam's runs "a-b" after).
lease() {
    python3 - "$T/leases.json" "$@" <<'EOF'
import ipaddress as ia, json, sys
path, op, *args = sys.argv[1:]
d = json.load(open(path))
pools, held = [], []
if "pools" in d:
    for p in d["pools"]:
        pools.append(p["pool"])
        for r in p["addresses"]:
            a, _, b = r.partition("-")
            held.append((ia.ip_address(a), ia.ip_address(b or a)))
else:
    for p in d.get("allocated") or []:
        pools.append(p["pool"])
        for a in p["allocated"] or []:
            x = ia.ip_address(a.split("/")[0]); held.append((x, x))
has = lambda a: any(lo.version == a.version and lo <= a <= hi for lo, hi in held)
if op == "pools": print("\n".join(sorted(pools)))
elif op == "holds": sys.exit(0 if all(has(ia.ip_address(a)) for a in args) else 1)
elif op == "holds_none": sys.exit(1 if any(has(ia.ip_address(a)) for a in args) else 0)
elif op == "go_free":   # released blocks, released addresses (the Go format only)
    print(len(d.get("free") or []), sum(len(p["free"] or []) for p in d.get("allocated") or []))
EOF
}

# wait_serving PID: until the plugin on $SOCK answers Plugin.Activate (15 s)
wait_serving() {
    local end=$((SECONDS + 15))
    while (( SECONDS < end )); do
        alive "$1" || return 1
        timeout 2 curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Length: 0' \
            http://plugin/Plugin.Activate 2>/dev/null | grep -q IpamDriver && return 0
        sleep 0.25
    done
    return 1
}

cleanup_mig() {
    local rc=$1 cs
    if alive "$DOCKERD_PID"; then
        cs=$(timeout 20 "$DOCKER" ps -aq 2>/dev/null)
        [[ -n $cs ]] && timeout -k 5 40 "$DOCKER" rm -f $cs >/dev/null 2>&1
    fi
    dockerd_stop
    alive "$GPID" && terminate gipam "$GPID" 10
    alive "$SPID" && terminate stand-in "$SPID" 5
    if run_failed "$rc"; then
        [[ -s $T/standin.log ]] && tail -n 60 "$T/standin.log" | log_section "stand-in: dockerd's calls (last 60)"
        [[ -s $T/gipam.log ]] && tail -n 80 "$T/gipam.log" | log_section "gipam log (last 80)"
        grep -E 'level=(error|warning|fatal)' "$T/dockerd.log" 2>/dev/null | tail -n 30 |
            log_section "dockerd log: errors/warnings (last 30)"
        # (Go's MarshalIndent writes no final newline)
        [[ -f $T/go-leases.json ]] && { cat "$T/go-leases.json"; echo; } | log_section "lease file as the stand-in left it"
        [[ -f $T/leases.json ]] && { head -c 4000 "$T/leases.json"; echo; } | log_section "lease file now"
    fi
    dockerd_remove_leftovers
}

# ---------------------------------------------------------------------------
# preflight and setup

require_gipam_bin
dockerd_preflight
[[ -x /bin/busybox ]] || skip "/bin/busybox missing (tests/e2e/run.sh installs busybox-static)"
command -v python3 >/dev/null || skip "python3 missing (the Go gipam stand-in needs it)"
command -v curl >/dev/null || skip "curl missing"

make_temp_dir gipam-mig cleanup_mig
start_watchdog "${E2E_TIMEOUT:-300}"
SOCK="$T/plugins/$NAME.sock"
dockerd_prepare "$NAME" "$T/plugins"
log "temp dir $T, plugin name $NAME"

# The stand-in runs before dockerd, as the Go gipam's unit would.
python3 "$here/go_gipam_standin.py" "$SOCK" "$T/leases.json" "$V4_SUPER" "$V4AB" "$V6_SUPER" 64 \
    "$T/standin.log" >>"$T/standin.err" 2>&1 &
SPID=$!
wait_serving "$SPID" || die "the Go gipam stand-in did not serve on $SOCK" "$(cat "$T/standin.err")"
: >"$T/standin.log"   # forget our own probe: the log shows dockerd's calls only
dockerd_start_or_skip
DOCKERD_FIRST_PID=$DOCKERD_PID
dockerd_import_busybox "$IMG" sh sleep true
log "dockerd up (pid $DOCKERD_PID), $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# 1-2. with the Go stand-in: dockerd registers the driver (caching the empty names), network A
# with one container, network B filled up to its broadcast address

out=$(dc network create --ipam-driver "$NAME" netA 2>&1) || die "stand-in: network create netA" "$out"
run_c c1 netA || die "stand-in: c1 on netA" "$RUN_OUT"
A=$(subnet_of netA) GWA=$(gateway_of netA) C1=$(ip_of c1 netA)
DETAIL="netA $A gw $GWA, c1 $C1"
check "1 stand-in: netA gets a /$V4AB of $V4_SUPER and c1 an address in it" \
    eval 'is_block "$A" "$V4AB" "$V4_SUPER" && in_cidr "$C1" "$A" && [[ $C1 != "$GWA" ]]'

out=$(dc network create --ipam-driver "$NAME" netB 2>&1) || die "stand-in: network create netB" "$out"
B=$(subnet_of netB)
BCAST=$(ip4_str $(( $(ip4_int "${B%/*}") + (1 << (32 - V4AB)) - 1 )))
for i in 1 2 3 4 5 6; do run_c "b$i" netB || die "stand-in: b$i on netB" "$RUN_OUT"; done
B6=$(ip_of b6 netB)
DETAIL="netB $B, b6 has $B6; the stand-in's lease file holds: $(lease pools | tr '\n' ' ')"
check "2 stand-in: b6 on netB holds the broadcast address $BCAST, and the Go lease file says so" \
    eval '[[ $B6 == "$BCAST" ]] && lease holds "$BCAST" "$C1" "$GWA"'
# A lease file of a Go gipam that ran a while has released blocks and addresses in its "free"
# lists: put one of each there (netX's block, cx's address), for gipam to read.
out=$(dc network create --ipam-driver "$NAME" netX 2>&1 && dc network rm netX 2>&1 &&
      dc run -d --name cx --network netA "$IMG" "${RUN_CMD[@]}" 2>&1 && dc rm -f cx 2>&1)
DETAIL="$out; $(lease go_free)"
check "2 stand-in: the Go lease file has a released block and a released address" \
    eval '[[ $(lease go_free) == "1 1" ]]'
HELD_BEFORE=$(in_use | grep . | sort)

# ---------------------------------------------------------------------------
# 3-4. the switch: stand-in stopped (its socket stays, like the Go tool's), gipam started on its
# lease file and socket; dockerd keeps running and is never told

terminate stand-in "$SPID" 5; SPID=""
cp "$T/leases.json" "$T/go-leases.json"
"$GIPAM_BIN" --socket "$SOCK" --name "$NAME" -file "$T/leases.json" --log-level debug >>"$T/gipam.log" 2>&1 &
GPID=$!
if wait_serving "$GPID"; then pass "3 gipam starts on the Go lease file and serves on the stand-in's socket"
else die "gipam did not start on the Go lease file" "$(tail -n 20 "$T/gipam.log")"; fi
DETAIL=$(grep -i 'warn' "$T/gipam.log")
check "4 gipam logs a warning naming the held broadcast address $BCAST" \
    eval 'grep -i warn "$T/gipam.log" | grep -i broadcast | grep -qF "$BCAST"'

# ---------------------------------------------------------------------------
# 5-6. the old networks, through the Go pool IDs dockerd still holds

if run_c c2 netA; then
    C2=$(ip_of c2 netA)
    DETAIL="c2 got $C2 in $A; held before: $(echo $HELD_BEFORE)"
    check "5 old netA: c2 starts and gets a free address of netA" \
        eval 'in_cidr "$C2" "$A" && ! grep -qxF "$C2" <<<"$HELD_BEFORE"'
else
    fail "5 old netA: c2 starts and gets a free address of netA" "$RUN_OUT"; C2=""
fi
run_c b7 netB; rc=$?
DETAIL="exit $rc, $RUN_OUT; b7 got $(ip_of b7 netB)"
check "6 old netB (every address and the broadcast held) refuses a 7th container" eval '(( rc != 0 ))'
dc rm -f b7 >/dev/null 2>&1

# ---------------------------------------------------------------------------
# 7-8. new networks: dockerd 20.10 sends AddressSpace "" (the Go names it cached at registration);
# 24+ ask GetDefaultAddressSpaces before each create (../shared/ipam-protocol.md 2.1), so gipam's
# own names arrive and nothing is warned

NEW=() SUBNETS=() ok=1 det=()
for n in netC netD netE; do
    if ! out=$(dc network create --ipam-driver "$NAME" "$n" 2>&1); then
        ok=0; det+=("$n: $out"); continue
    fi
    NEW+=("$n"); s=$(subnet_of "$n"); det+=("$n: $s")
    is_block "$s" "$V4AB" "$V4_SUPER" || { ok=0; det+=("$s is not a /$V4AB of $V4_SUPER"); }
    for o in "$A" "$B" "${SUBNETS[@]}"; do overlaps "$s" "$o" && { ok=0; det+=("$s overlaps $o"); }; done
    SUBNETS+=("$s")
done
if (( ok )); then pass "7 new networks netC netD netE are created, each a /$V4AB overlapping none"
else fail "7 new networks netC netD netE are created, each a /$V4AB overlapping none" "${det[@]}"; fi
C=$(subnet_of netC)
if run_c c3 netC; then
    C3=$(ip_of c3 netC); DETAIL="c3 got $C3, netC $C"
    check "7 c3 on the new netC starts with an address of netC" eval 'in_cidr "$C3" "$C"'
else
    fail "7 c3 on the new netC starts" "$RUN_OUT"; C3=""
fi
nwarn=$(grep -ci 'empty address space' "$T/gipam.log")
want_warn=1
[[ $GIPAM_DOCKERD == bookworm ]] || want_warn=0
DETAIL=$(grep -i 'address space' "$T/gipam.log")
check "8 gipam warned about the empty address space $want_warn time(s) (got $nwarn) after 3 creates" \
    eval '(( nwarn == want_warn ))'

# ---------------------------------------------------------------------------
# 9. one holder per address, and the lease file holds every one

held=$(in_use | grep . | sort)
dups=$(uniq -d <<<"$held")
DETAIL="duplicates: ${dups:-none}; in use: $(echo $held)"
check "9 no address is held twice (containers and gateways, from docker inspect)" eval '[[ -z $dups ]]'
DETAIL="in use: $(echo $held); lease file pools: $(lease pools | tr '\n' ' ')"
check "9 the lease file holds every address in use, the broadcast among them" \
    eval 'lease holds $held "$BCAST"'
pools_want=$(printf '%s\n' "$A" "$B" "${SUBNETS[@]}" | sort)
DETAIL="want: $(echo $pools_want); lease file: $(lease pools | tr '\n' ' ')"
check "9 the lease file holds exactly the pools of netA..netE" eval '[[ $(lease pools) == "$pools_want" ]]'

# ---------------------------------------------------------------------------
# 10. releases reach the lease file

dc rm -f c3 >/dev/null 2>&1
out=""; for n in "${NEW[@]}"; do out+=$(dc network rm "$n" 2>&1) || out+=" (rm $n failed)"; done
DETAIL="network rm: $out; lease file pools: $(lease pools | tr '\n' ' ')"
check "10 removing c3 and netC..netE frees their pools and c3's address in the lease file" \
    eval '[[ $(lease pools) == "$(printf "%s\n" "$A" "$B" | sort)" ]] && lease holds_none ${C3:-}'
dc rm -f c2 >/dev/null 2>&1
DETAIL="c2 had $C2"
check "10 removing c2 frees its address on the old netA" eval '[[ -n $C2 ]] && lease holds_none "$C2" && lease holds "$C1"'
dc rm -f b6 >/dev/null 2>&1
DETAIL="lease file for netB: $(grep -F "${B%.*}." "$T/leases.json")"
check "10 removing b6 frees the broadcast address $BCAST" eval 'lease holds_none "$BCAST"'
run_c b8 netB; rc=$?
DETAIL="exit $rc, $RUN_OUT; b8 got $(ip_of b8 netB)"
check "10 the broadcast is never handed out again: netB still refuses a new container" eval '(( rc != 0 ))'
dc rm -f b8 >/dev/null 2>&1

DETAIL="dockerd pid then $DOCKERD_FIRST_PID, now $DOCKERD_PID; alive: $(alive "$DOCKERD_PID" && echo yes || echo no)"
check "11 the same dockerd ran throughout (never restarted)" \
    eval '[[ $DOCKERD_PID == "$DOCKERD_FIRST_PID" ]] && alive "$DOCKERD_PID"'
log "dockerd's calls to the stand-in:"; sed 's/^/#   /' "$T/standin.log"

exit $(( FAILED == 0 ? 0 : 1 ))
