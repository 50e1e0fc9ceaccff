#!/usr/bin/env bash
# Swarm end-to-end test: the managed plugin under a real, private dockerd in swarm mode. An
# attachable overlay network from gipam, a 2-replica service and an attached container on it, then
# everything removed and the lease file back where it started.
#
#   bash tests/e2e/swarm.sh BUILD/managed-plugin
#
# Exit status: 0 all checks passed, 1 a check failed, 77 dockerd or swarm cannot run here
# ("SKIP: reason").
#
# Why this test exists (../shared/ipam-protocol.md §4.9): the manager asks for the pool in the
# global address space, and every node that runs a task then creates the same network locally with
# RequestPool AddressSpace=gipam-local, Pool=<that subnet>. A plugin that refuses the local copy as
# "overlapping" its own global pool gets every task Rejected and retried forever; only a real
# swarm shows that. Only a managed plugin may serve swarm networks (a socket plugin is refused).
#
# dockerd runs in its own mount and network namespace (tests/support/private_dockerd.sh). Swarm
# needs an address to advertise: a veth pair created inside dockerd's network namespace carries
# 198.19.255.1/30. The default address pools of dockerd (docker_gwbridge) and of the swarm
# (ingress) are moved into 198.19.0.0/16 too, so nothing here uses an address outside
# 198.18.0.0/15. The host's network is never touched; no packet is sent to a container.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), SWARM_KEEP=1 keeps the temp dir,
# SWARM_TIMEOUT=300 is the watchdog for the whole run, seconds.

set -u -o pipefail
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"

PLUGIN_DIR=${1:-}
PLUGIN=gipam DRIVER=gipam:latest  # a managed plugin's driver name carries its tag
V4_SUPER=198.18.0.0/16
ADV_ADDR=198.19.255.1             # the swarm's advertise address, on veth gsw0 (peer gsw1: .2)
IMG=gipam-swarm-img:latest
KEEP_TEMP_DIR=${SWARM_KEEP:-0}
DC_TIMEOUT=90                     # bound on one dc call, seconds
WAIT_FOR_STEP=1                   # wait_for's interval, seconds (what it waits for asks dockerd)
PLUGIN_ID="" NETNS=""

# commands in dockerd's network namespace (veth, addresses); never the host's
in_netns() { nsenter --net="$NETNS" "$@"; }
pools() {   # the pools in the lease file, one "id pool" per line, sorted; "unreadable" if it is not one
    jq -e '.pools | type == "array"' "$T/state/leases.json" >/dev/null 2>&1 || { echo "unreadable lease file"; return; }
    jq -r '.pools[] | "\(.id) \(.pool)"' "$T/state/leases.json" | sort
}
s1_tasks() { dc ps -q --filter label=com.docker.swarm.service.name=s1; }
addr_of() {   # addr_of CONTAINER: its IPv4 address on ov1
    dc inspect -f '{{with index .NetworkSettings.Networks "ov1"}}{{.IPAddress}}{{end}}' "$1" 2>&1
}

# Before the temp dir goes (tap.sh's finish_run): what a failed check left, the swarm, the plugin,
# the veth, then dockerd by PID; logs on failure; leaked mounts and cgroups.
cleanup_swarm() {
    local rc=$1
    if alive "$DOCKERD_PID"; then
        dc rm -f c1 >/dev/null 2>&1
        dc service rm s1 >/dev/null 2>&1
        wait_for 20 eval '[[ -z $(s1_tasks) ]]' >/dev/null
        dc network rm ov1 >/dev/null 2>&1
        dc swarm leave --force >/dev/null 2>&1
        dc plugin disable -f "$PLUGIN" >/dev/null 2>&1
        dc plugin rm -f "$PLUGIN" >/dev/null 2>&1
        in_netns ip link del gsw0 2>/dev/null   # its peer goes with it
    fi
    dockerd_stop
    if run_failed "$rc"; then
        # the plugin's debug lines only when they report a failure (-> 4xx/5xx)
        [[ -s $T/dockerd.log ]] && grep -E 'level=(warning|fatal|error)' "$T/dockerd.log" |
            grep -vE 'gipam debug:|msg=" -> 200' | tail -n 60 |
            log_section "dockerd log: errors, warnings and the plugin's output (last 60)"
        [[ -f $T/state/leases.json ]] && log_section "lease file" <"$T/state/leases.json"
    fi
    dockerd_remove_leftovers
    [[ $PLUGIN_ID =~ ^[0-9a-f]{64}$ ]] && remove_cgroups "$PLUGIN_ID"
}

# ---------------------------------------------------------------------------
# preflight: a private dockerd with the busybox image, the veth, a single-node swarm

require_plugin_dir
dockerd_preflight nsenter jq ip /bin/busybox

make_temp_dir gipam-swarm cleanup_swarm
start_watchdog "${SWARM_TIMEOUT:-300}"
mkdir -p -m 0700 "$T/state"   # stands for /var/lib/gipam
dockerd_prepare "gipam-swarm-$$"
# docker_gwbridge takes its subnet from dockerd's default pools (172.17.0.0/16... otherwise)
DOCKERD_ARGS+=(--default-address-pool base=198.19.0.0/18,size=24)
# Without this a task's Prepare tries to pull its image from Docker Hub first (and only logs the
# failure); the image is local, so nothing is pulled and nothing leaves the machine.
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
dockerd_start_or_skip
dockerd_import_busybox "$IMG" sh sleep true
NETNS=/proc/$DOCKERD_PID/ns/net
log "dockerd up (pid $DOCKERD_PID) in $T, $(( $(date +%s) - START_TS ))s"

out=$( { in_netns ip link add gsw0 type veth peer name gsw1 &&
         in_netns ip addr add "$ADV_ADDR/30" dev gsw0 && in_netns ip addr add 198.19.255.2/30 dev gsw1 &&
         in_netns ip link set gsw0 up && in_netns ip link set gsw1 up; } 2>&1) ||
    skip "cannot make a veth pair in dockerd's network namespace: $out"
# ingress takes its subnet from the swarm's default pool (10.0.0.0/8 otherwise)
out=$(dc swarm init --advertise-addr "$ADV_ADDR" --listen-addr "$ADV_ADDR:2377" --data-path-addr "$ADV_ADDR" \
      --default-addr-pool 198.19.64.0/18 --default-addr-pool-mask-length 24 2>&1) ||
    skip "docker swarm init failed: $out"
pass "single-node swarm advertising $ADV_ADDR"

# ---------------------------------------------------------------------------
# the managed plugin, as tests/packaging/managed_plugin.sh installs it

out=$(dc plugin create "$PLUGIN" "$PLUGIN_DIR" 2>&1) || { fail "docker plugin create $PLUGIN" "$out"; exit 1; }
PLUGIN_ID=$(dc plugin inspect -f '{{.Id}}' "$PLUGIN" 2>/dev/null)
out=$(dc plugin set "$PLUGIN" state.source="$T/state" GIPAM_V4="$V4_SUPER" args=--log-level=debug 2>&1) ||
    { fail "docker plugin set" "$out"; exit 1; }
out=$(dc plugin enable "$PLUGIN" 2>&1) ||
    { fail "docker plugin enable $PLUGIN" "$out"; exit 1; }
pass "managed plugin $PLUGIN created, set (GIPAM_V4=$V4_SUPER) and enabled (id ${PLUGIN_ID:0:12})"
POOLS_BEFORE=$(pools)

# ---------------------------------------------------------------------------
# the overlay network and the service

out=$(dc network create -d overlay --attachable --ipam-driver "$DRIVER" ov1 2>&1) ||
    { fail "docker network create -d overlay --attachable --ipam-driver $DRIVER ov1" "$out"; exit 1; }
SUBNET=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' ov1 2>&1)
DETAIL="ov1 IPAM config: $SUBNET"
check "overlay network ov1 has a /24 from $V4_SUPER ($SUBNET)" is_block "$SUBNET" 24 "$V4_SUPER"

out=$(dc service create --detach --name s1 --replicas 2 --network ov1 --no-resolve-image \
      --stop-grace-period 1s "$IMG" sleep 3600 2>&1) || { fail "docker service create s1" "$out"; exit 1; }
# Running tasks have containers; rejected ones (the bug) never do and are retried every 5 s.
if wait_for 60 eval '[[ $(s1_tasks | wc -l) == 2 && $(dc service ls -f name=s1 --format "{{.Replicas}}") == 2/2 ]]'; then
    pass "both tasks of service s1 reach Running"
else
    fail "both tasks of service s1 reach Running within 60s" "$(dc service ps --no-trunc s1 2>&1)"
fi

# Addresses as dockerd assigned them (docker inspect; no packet goes to a container).
declare -A seen=()   # for note_addr (tests/support/cidr.sh)
det=() ok=1
for c in $(s1_tasks); do note_addr "task $c" "$(addr_of "$c")"; done
(( ${#seen[@]} == 2 )) || { ok=0; det+=("${#seen[@]} running tasks, want 2"); }
DETAIL=$(printf '%s\n' "${det[@]}")
check "the two tasks have distinct addresses inside $SUBNET" eval '(( ok ))'

out=$(dc run -d --name c1 --network ov1 "$IMG" sleep 3600 2>&1)
if [[ $? -ne 0 ]]; then
    fail "docker run --network ov1 (attachable)" "$out"
else
    note_addr c1 "$(addr_of c1)"
    # the gateway and the service's VIP come from gipam too
    note_addr gateway "$(dc network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' ov1)"
    vip=$(dc service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' s1)
    note_addr VIP "${vip%/*}"
    DETAIL=$(printf '%s\n' "${det[@]}")
    check "an attached container c1 gets a third address, distinct from the tasks, gateway and VIP" eval '(( ok ))'
fi
log "on ov1: $(printf "%s; " "${det[@]}")"
in_use=$(pools | paste -sd ' ')
DETAIL="lease file pools: $in_use"
check "while in use the lease file holds the manager's pool and the node's copy of $SUBNET" \
    eval '[[ $in_use == *"gipam-global/$SUBNET $SUBNET"* && $in_use == *"gipam-local/$SUBNET $SUBNET"* ]]'
# the networks swarm made itself must keep to the ranges given above
for n in docker_gwbridge ingress; do
    s=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' $n 2>&1)
    DETAIL="$n: $s"
    check "$n has its subnet from 198.19.0.0/16 ($s)" inside "$s" 198.19.0.0/16
done

# ---------------------------------------------------------------------------
# removal: container, service (its tasks go), network; the lease file back to where it started

# (docker run may have created c1 and failed to start it)
if dc inspect c1 >/dev/null 2>&1; then out=$(dc rm -f c1 2>&1) || fail "docker rm -f c1" "$out"; fi
out=$(dc service rm s1 2>&1); [[ $? -eq 0 ]] || fail "docker service rm s1" "$out"
wait_for 30 eval '[[ -z $(s1_tasks) ]]' || fail "the tasks of s1 are gone within 30s" "$(dc ps -a 2>&1)"
out=$(dc network rm ov1 2>&1); [[ $? -eq 0 ]] || fail "docker network rm ov1" "$out"
# The node's local copy goes asynchronously after the last endpoint leaves.
if wait_for 30 eval '[[ $(pools) == "$POOLS_BEFORE" ]]'; then
    pass "after rm of c1, s1 and ov1 the lease file holds the pools it held before (${POOLS_BEFORE:-none})"
else
    fail "after rm of c1, s1 and ov1 the lease file holds the pools it held before" \
        "before: ${POOLS_BEFORE:-none}" "now: $(pools)"
fi

exit $(( FAILED == 0 ? 0 : 1 ))
