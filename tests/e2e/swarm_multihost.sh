#!/usr/bin/env bash
# Two-node swarm end-to-end test: a manager (node A) and a worker (node B), each a private dockerd
# with the managed plugin, sharing one address plan through one etcd member.
#
#   bash tests/e2e/swarm_multihost.sh BUILD/managed-plugin     (root; exit 0 pass, 1 fail, 77 skip)
#
#   1. both nodes are in the swarm (docker node ls on A: 2 nodes Ready);
#   2. the managed plugin is enabled on both with the etcd settings, and shares its plan through etcd;
#   3. a local network on B takes a block (claimed in etcd by B); an attachable overlay network made
#      on A gets another /24 of the plugin's supernet, held in etcd as a swarm pool (gipam-global);
#   4. a global service (one task per node) runs on both nodes, no task Rejected; B's gipam grants
#      its local copy of the overlay as a copy of the swarm pool held in etcd, claiming no block;
#   5. the tasks' addresses are distinct, inside the subnet, and held in etcd under the swarm pool;
#   6. removing the service and the networks frees everything: no pool or block key left in etcd,
#      no pool in either node's lease file.
#
# Why (../shared/ipam-protocol.md §4.9): the manager's gipam takes the pool in gipam-global, and
# each node that runs a task creates the network locally with RequestPool gipam-local
# Pool=<subnet>. On a worker that gipam has never seen the pool: only etcd tells it that the block
# is the swarm's, so that the copy is granted rather than refused (task Rejected, forever) or
# claimed as a block of its own. One node (swarm.sh) cannot show that.
#
# Layout. Each node has its own directory ($ROOT/a, $ROOT/b) and a private dockerd
# (tests/support/private_dockerd.sh: own mount and network namespace). Those helpers serve one
# dockerd at a time: `dockerd_use NODE` makes NODE's the current one (as in tests/e2e/multihost.sh),
# and `dch NODE ...` runs the docker CLI against NODE in a subshell. A veth pair joins the two
# network namespaces: gsm0 198.19.255.1/30 in A's, gsm1 198.19.255.2/30 in B's; swarm (2377),
# gossip (7946) and VXLAN (4789) go over it. etcd runs in A's network namespace on
# 198.19.255.1:2379 (peer port on A's loopback), so B's plugin reaches it over the veth; etcdctl
# runs in etcd's network namespace. Both plugins run in their dockerd's network namespace (the
# plugin's "host" network). dockerd's and the swarm's default address pools are moved into
# 198.19.0.0/16, the plugin hands out 198.18.0.0/16: no address outside 198.18.0.0/15 is used, the
# host's network is never touched, and no packet is sent to a container. Everything is stopped by
# PID in the EXIT trap.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), SMH_KEEP=1 keeps $ROOT,
# SMH_TIMEOUT=240 is the watchdog for the whole run, seconds. SMH_WORKER_PREFIX=/other gives B's
# plugin another GIPAM_ETCD_PREFIX than A's (/gipam), to see this test fail: B then does not see the
# manager's pool, takes the overlay's block for its own local network too, and refuses the copy
# (checks 3, 4 and 5 fail; 6 passes, everything is freed in both prefixes).

set -u -o pipefail
export LC_ALL=C ETCDCTL_API=3
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"
source "$support/etcd_kv.sh"

PLUGIN_DIR=${1:-}
PLUGIN=gipam DRIVER=gipam:latest  # a managed plugin's driver name carries its tag
V4_SUPER=198.18.0.0/16            # the plugin's GIPAM_V4 default, set explicitly
IMG=gipam-smh-img:latest
KEEP_TEMP_DIR=${SMH_KEEP:-0}
DC_TIMEOUT=90                     # bound on one dc call, seconds
TASK_BOUND=90                     # bound on the service's tasks reaching Running, seconds
FREE_BOUND=45                     # bound on everything being freed after removal, seconds
WAIT_FOR_STEP=1                   # wait_for's interval, seconds (what it waits for asks dockerd)
NODES=(A B)
declare -A NODE=([A]=node-a [B]=node-b)               # GIPAM_NODE_ID
declare -A VETH=([A]=gsm0 [B]=gsm1)
declare -A VADDR=([A]=198.19.255.1 [B]=198.19.255.2)  # on the veth; A's is the swarm's advertise address
declare -A PREFIX=([A]=/gipam [B]=${SMH_WORKER_PREFIX:-/gipam})
declare -A PLUGIN_ID=() NETNS=()
ETCD_EP=http://${VADDR[A]}:2379
ETCD_PID="" ROOT="" SWARM_UP=0
die() { fail "harness: $1" "${@:2}"; exit 1; }

# ---------------------------------------------------------------------------
# the two dockerds

pid_of() { ( dockerd_use "$1"; echo "$DOCKERD_PID" ); }   # NODE's dockerd
in_netns() { nsenter --net="${NETNS[$1]}" "${@:2}"; }   # in_netns NODE COMMAND...: in NODE's network namespace
tasks_on() { dch "$1" ps -q --filter label=com.docker.swarm.service.name=s1; }
addr_on() {   # addr_on NODE CONTAINER: its IPv4 address on ov1
    dch "$1" inspect -f '{{with index .NetworkSettings.Networks "ov1"}}{{.IPAddress}}{{end}}' "$2" 2>&1
}
lease_pools() {   # lease_pools NODE: the pool IDs in NODE's lease file, space-separated
    jq -r '.pools | if type == "array" then (map(.id) | join(" ")) else "unreadable" end' \
        "$ROOT/${1,,}/state/leases.json" 2>&1
}
plugin_log() {   # plugin_log NODE: the plugin's lines in NODE's dockerd log
    grep -F "plugin=${PLUGIN_ID[$1]:-none}" "$ROOT/${1,,}/dockerd.log" 2>/dev/null
}

# ---------------------------------------------------------------------------
# etcd: one member in A's network namespace, data in $ROOT

ec() { nsenter --net="/proc/$ETCD_PID/ns/net" timeout -k 2 10 etcdctl --endpoints "$ETCD_EP" "$@"; }
start_etcd() {
    local end=$((SECONDS + 30))
    nsenter --net="${NETNS[A]}" etcd --name smh --data-dir "$ROOT/etcd" \
        --listen-client-urls "$ETCD_EP" --advertise-client-urls "$ETCD_EP" \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster smh=http://127.0.0.1:2380 >"$ROOT/etcd.log" 2>&1 &
    ETCD_PID=$!   # nsenter execs etcd (no PID namespace to enter, so no fork)
    while (( SECONDS < end )); do
        alive "$ETCD_PID" || break
        ec endpoint health >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tail -n 20 "$ROOT/etcd.log" | log_section "etcd log (last 20 lines)"
    skip "etcd did not come up on $ETCD_EP in node A's network namespace"
}

# ---------------------------------------------------------------------------
# cleanup: before the scratch directory goes (tap.sh's finish_run)

cleanup_smh() {
    local rc=$1 n
    DC_TIMEOUT=20
    if run_failed "$rc"; then
        if dockerd_known A && alive "$(pid_of A)"; then
            dch A service inspect s1 >/dev/null 2>&1 &&   # (a failed check 4 shows it already)
                dch A service ps --no-trunc s1 2>&1 | log_section "docker service ps --no-trunc s1 (on A)"
            (( SWARM_UP )) && dch A node ls 2>&1 | log_section "docker node ls (on A)"
        fi
        alive "$ETCD_PID" && etcd_kv 2>&1 | head -n 80 | log_section "etcd keys"
        for n in "${NODES[@]}"; do
            dockerd_known "$n" || continue
            # the plugin's lines but its debug ones that report success
            plugin_log "$n" | grep -vE 'gipam debug:.* -> 200 ' | tail -n 30 |
                log_section "plugin log of ${NODE[$n]} (last 30, no successful debug lines)"
            # dockerd's own errors, but those about ipvs and bridge vlans this kernel lacks (every run)
            grep -E 'level=(error|fatal)' "$ROOT/${n,,}/dockerd.log" 2>/dev/null | grep -vF "plugin=" |
                grep -vE 'ipvs|kernel parameter net\.ipv4\.vs|default vlan|default_pvid' | tail -n 15 |
                log_section "dockerd log of ${NODE[$n]}: errors (last 15)"
            [[ -f $ROOT/${n,,}/state/leases.json ]] && log_section "lease file of ${NODE[$n]}" <"$ROOT/${n,,}/state/leases.json"
        done
        [[ -s $ROOT/etcd.log ]] && grep -E '"level":"(warn|error|fatal)"' "$ROOT/etcd.log" | tail -n 10 |
            log_section "etcd log: warnings and errors (last 10)"
    fi
    if dockerd_known A; then
        dockerd_use A
        if alive "$DOCKERD_PID"; then
            dc service rm s1 >/dev/null 2>&1
            dc network rm ov1 >/dev/null 2>&1
        fi
    fi
    for n in B A; do   # the worker leaves first
        dockerd_known "$n" || continue
        dockerd_use "$n"
        if alive "$DOCKERD_PID"; then
            dockerd_remove_containers
            (( SWARM_UP )) && dc swarm leave --force >/dev/null 2>&1
            dc plugin disable -f "$PLUGIN" >/dev/null 2>&1
            dc plugin rm -f "$PLUGIN" >/dev/null 2>&1
            [[ $n == A ]] && in_netns A ip link del "${VETH[A]}" 2>/dev/null   # its peer goes with it
        fi
        dockerd_stop
    done
    alive "$ETCD_PID" && terminate etcd "$ETCD_PID" 10
    dockerd_remove_all_leftovers   # $T is $ROOT again, for finish_run to remove
    for n in "${NODES[@]}"; do
        [[ ${PLUGIN_ID[$n]:-} =~ ^[0-9a-f]{64}$ ]] && remove_cgroups "${PLUGIN_ID[$n]}"
    done
}

# ---------------------------------------------------------------------------
# preflight and setup: two dockerds, the veth between them, etcd

require_plugin_dir
dockerd_preflight nsenter jq ip etcd etcdctl /bin/busybox

make_temp_dir gipam-smh cleanup_smh
ROOT=$T
start_watchdog "${SMH_TIMEOUT:-240}"
# Without this a task's Prepare tries to pull its image from Docker Hub first (and only logs the
# failure); the image is local, so nothing is pulled and nothing leaves the machine.
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
[[ ${PREFIX[A]} != "${PREFIX[B]}" ]] &&
    log "SMH_WORKER_PREFIX=${PREFIX[B]}: B's plugin does not see A's keys (${PREFIX[A]}); checks 3-5 are expected to fail"
for n in "${NODES[@]}"; do
    dockerd_add "$n" "$ROOT/${n,,}" "gipam-smh-$$-${n,,}"
    mkdir -p -m 0700 "$T/state"   # the plugin's state mount (stands for /var/lib/gipam)
    # docker_gwbridge takes its subnet from dockerd's default pools (172.17.0.0/16... otherwise)
    DOCKERD_ARGS+=(--default-address-pool base=198.19.0.0/18,size=24)
    dockerd_start_or_skip
    dockerd_import_busybox "$IMG" sh sleep true
    NETNS[$n]=/proc/$DOCKERD_PID/ns/net
    log "${NODE[$n]}: dockerd pid $DOCKERD_PID in $T, $(( $(date +%s) - START_TS ))s"
done

out=$( { in_netns A ip link add "${VETH[A]}" type veth peer name "${VETH[B]}" netns "$(pid_of B)" &&
         in_netns A ip addr add "${VADDR[A]}/30" dev "${VETH[A]}" && in_netns A ip link set "${VETH[A]}" up &&
         in_netns B ip addr add "${VADDR[B]}/30" dev "${VETH[B]}" && in_netns B ip link set "${VETH[B]}" up; } 2>&1) ||
    skip "cannot make a veth pair between the dockerds' network namespaces: $out"
start_etcd
out=$(nsenter --net="${NETNS[B]}" timeout -k 2 10 etcdctl --endpoints "$ETCD_EP" endpoint health 2>&1) ||
    die "etcd on $ETCD_EP is not reachable from node B's network namespace" "$out"
log "veth ${VETH[A]} ${VADDR[A]} (A) - ${VETH[B]} ${VADDR[B]} (B); etcd $(etcd --version | sed -n 's/^etcd Version: //p') on $ETCD_EP (pid $ETCD_PID), reachable from B"

# ---------------------------------------------------------------------------
# 1. the swarm: A initialises it, B joins as a worker

# ingress takes its subnet from the swarm's default pool (10.0.0.0/8 otherwise)
out=$(dch A swarm init --advertise-addr "${VADDR[A]}" --listen-addr "${VADDR[A]}:2377" --data-path-addr "${VADDR[A]}" \
      --default-addr-pool 198.19.64.0/18 --default-addr-pool-mask-length 24 2>&1) ||
    skip "docker swarm init failed: $out"
SWARM_UP=1
token=$(dch A swarm join-token -q worker 2>&1) || die "docker swarm join-token -q worker" "$token"
out=$(dch B swarm join --token "$token" --advertise-addr "${VADDR[B]}" --listen-addr "${VADDR[B]}:2377" \
      --data-path-addr "${VADDR[B]}" "${VADDR[A]}:2377" 2>&1)
rc=$?
ready() { [[ $(dch A node ls --format '{{.Status}} {{.ManagerStatus}}' 2>/dev/null | grep -c '^Ready') == 2 ]]; }
wait_for 30 ready
DETAIL="swarm join exit $rc: $out"$'\n'"$(dch A node ls 2>&1)"
check "1 both nodes are in the swarm: docker node ls on A shows 2 nodes Ready (A manager, B worker)" \
    eval '(( rc == 0 )) && ready && [[ $(dch B info -f "{{.Swarm.ControlAvailable}}") == false ]]'
log "swarm up in $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# 2. the managed plugin on both nodes, with the etcd settings

for n in "${NODES[@]}"; do
    dockerd_use "$n"
    out=$(dc plugin create "$PLUGIN" "$PLUGIN_DIR" 2>&1) || die "${NODE[$n]}: docker plugin create $PLUGIN" "$out"
    PLUGIN_ID[$n]=$(dc plugin inspect -f '{{.Id}}' "$PLUGIN" 2>/dev/null)
    out=$(dc plugin set "$PLUGIN" state.source="$T/state" GIPAM_V4="$V4_SUPER" GIPAM_ETCD_ENDPOINTS="$ETCD_EP" \
          GIPAM_NODE_ID="${NODE[$n]}" GIPAM_ETCD_PREFIX="${PREFIX[$n]}" args=--log-level=debug 2>&1) ||
        die "${NODE[$n]}: docker plugin set" "$out"
    out=$(dc plugin enable "$PLUGIN" 2>&1) || die "${NODE[$n]}: docker plugin enable $PLUGIN" "$out"
done
shared() { plugin_log "$1" | grep -qF "address plan shared through etcd ($ETCD_EP)"; }
for n in "${NODES[@]}"; do
    env=$(dch "$n" plugin inspect -f '{{.Enabled}} {{range .Settings.Env}}{{.}} {{end}}' "$PLUGIN" 2>&1)
    wait_for 10 shared "$n" >/dev/null
    DETAIL="plugin inspect: $env"$'\n'"$(plugin_log "$n" | tail -n 5)"
    check "2 ${NODE[$n]}: plugin $PLUGIN enabled with GIPAM_ETCD_ENDPOINTS=$ETCD_EP GIPAM_NODE_ID=${NODE[$n]} GIPAM_ETCD_PREFIX=${PREFIX[$n]}, its plan shared through etcd" \
        eval '[[ $env == "true "* && " $env " == *" GIPAM_ETCD_ENDPOINTS=$ETCD_EP "* && " $env " == *" GIPAM_NODE_ID=${NODE[$n]} "* &&
                 " $env " == *" GIPAM_ETCD_PREFIX=${PREFIX[$n]} "* ]] && shared "$n"'
done

# ---------------------------------------------------------------------------
# 3. a local network on B, then the overlay network on A

out=$(dch B network create --ipam-driver "$DRIVER" bnet 2>&1) || die "${NODE[B]}: docker network create --ipam-driver $DRIVER bnet" "$out"
BSUB=$(dch B network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' bnet 2>&1)
KV=$(etcd_kv) k=$(block_key "$BSUB" "${PREFIX[B]}")
v=$(kv_get "$k") v=$(jq -c '{pool, node, scope}' <<<"${v:-null}" 2>&1)
DETAIL="bnet: $BSUB; $k: $v"
check "3 a local network on B (bnet) gets a /24 of $V4_SUPER ($BSUB), its block claimed in etcd by ${NODE[B]}" \
    eval 'is_block "$BSUB" 24 "$V4_SUPER" && [[ $v == "$(block_value "gipam-local/$BSUB" "${NODE[B]}" node)" ]]'

out=$(dch A network create -d overlay --attachable --ipam-driver "$DRIVER" ov1 2>&1) ||
    die "docker network create -d overlay --attachable --ipam-driver $DRIVER ov1" "$out"
read -r SUBNET GW < <(dch A network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' ov1 2>&1)
POOL=gipam-global/$SUBNET
DETAIL="ov1 IPAM config: $SUBNET gateway $GW; bnet (B): $BSUB"
check "3 overlay network ov1 gets a /24 of $V4_SUPER ($SUBNET), not bnet's" \
    eval 'is_block "$SUBNET" 24 "$V4_SUPER" && ! overlaps "$SUBNET" "$BSUB"'
KV=$(etcd_kv) k=$(block_key "$SUBNET")
v=$(kv_get "$k") v=$(jq -c '{pool, node, scope}' <<<"${v:-null}" 2>&1)
# the pool's key holds the lease file's JSON of that one pool
p=$(kv_get "/gipam/pools/$POOL") p=$(jq -r '.pools | if length == 1 then "\(.[0].id) \(.[0].pool)" else "\(length) pools" end' <<<"${p:-null}" 2>&1)
DETAIL="/gipam/pools/$POOL: ${p:-(no key)}; $k: $v"
check "3 etcd holds ov1's pool as /gipam/pools/$POOL, its block cluster-scoped, claimed by ${NODE[A]}" \
    eval '[[ $p == "$POOL $SUBNET" && $v == "$(block_value "$POOL" "${NODE[A]}" cluster)" ]]'

# ---------------------------------------------------------------------------
# 4. a global service: one task per node

out=$(dch A service create --detach --name s1 --mode global --network ov1 --no-resolve-image \
      --stop-grace-period 1s "$IMG" sleep 3600 2>&1) || die "docker service create s1" "$out"
t0=$SECONDS
# Running tasks have containers; rejected ones never do and are retried every 5 s.
both_run() { [[ $(tasks_on A | grep -c .) == 1 && $(tasks_on B | grep -c .) == 1 ]]; }
wait_for "$TASK_BOUND" both_run
running=$?
states=$(dch A service ps --no-trunc --format '{{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' s1 2>&1)
rejected=$(grep -c ' Rejected ' <<<"$states")
DETAIL="$(dch A service ps --no-trunc s1 2>&1)"
check "4 service s1 (--mode global) runs a task on both nodes within ${TASK_BOUND}s ($(( SECONDS - t0 ))s), none Rejected" \
    eval '(( running == 0 && rejected == 0 ))'

# B's gipam has only etcd to tell it what ov1's subnet is
copy_line=$(plugin_log B | grep -F "RequestPool gipam-local/$SUBNET granted" | tail -n 1)
bpools=$(lease_pools B)
KV=$(etcd_kv) blocks=$(kv_keys "/blocks/4/$(printf %08x "$(ip4_int "${SUBNET%/*}")")/")
want_copy="(this node's copy of swarm pool $POOL, held on another node)"
DETAIL="B's plugin: ${copy_line:-no grant of gipam-local/$SUBNET}"$'\n'"B's lease file: $bpools"$'\n'"blocks of $SUBNET in etcd: $(echo $blocks)"
check "4 B grants its copy of ov1 as \"this node's copy of swarm pool $POOL, held on another node\", claiming no block of its own" \
    eval '[[ $copy_line == *"$want_copy"* && " $bpools " == *" gipam-local/$SUBNET "* &&
             $blocks == "$(block_key "$SUBNET")" ]]'

# ---------------------------------------------------------------------------
# 5. the tasks' addresses (as dockerd assigned them: docker inspect; no packet goes to a container)

declare -A seen=() TADDR=()   # seen: for note_addr (tests/support/cidr.sh)
det=() ok=1
note_addr gateway "$GW"
vip=$(dch A service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' s1 2>&1)
note_addr VIP "${vip%/*}"
for n in "${NODES[@]}"; do
    c=$(tasks_on "$n" | head -n 1)
    [[ -n $c ]] || { ok=0; det+=("no task container on ${NODE[$n]}"); continue; }
    TADDR[$n]=$(addr_on "$n" "$c")
    note_addr "task on ${NODE[$n]} (${c:0:12})" "${TADDR[$n]}"
done
if (( ok )); then pass "5 the tasks have distinct addresses inside $SUBNET, other than the gateway and the VIP"
else fail "5 the tasks have distinct addresses inside $SUBNET, other than the gateway and the VIP" "${det[@]}"; fi
log "on ov1: $(printf '%s; ' "${det[@]}")"

KV=$(etcd_kv) ok=1 det=()
for n in "${NODES[@]}"; do
    [[ -n ${TADDR[$n]:-} ]] || { ok=0; det+=("task on ${NODE[$n]}: no address"); continue; }
    k="/gipam/pools/$POOL/addresses/${TADDR[$n]}"
    v=$(kv_get "$k") || { ok=0; det+=("task on ${NODE[$n]}: no key $k"); continue; }
    [[ $(hold_of "$v") == "swarm endpoint" ]] ||
        { ok=0; det+=("task on ${NODE[$n]}: $k is '$v', want it held by swarm for an endpoint"); }
done
addrs=$(kv_keys "^/gipam/pools/$POOL/addresses/")
det+=("addresses of $POOL in etcd: $(sed "s|^/gipam/pools/$POOL/addresses/||" <<<"$addrs" | xargs)")
if (( ok )); then pass "5 etcd holds each task's address under /gipam/pools/$POOL/addresses/, as the swarm's"
else fail "5 etcd holds each task's address under /gipam/pools/$POOL/addresses/, as the swarm's" "${det[@]}"; fi
log "${det[-1]}"

# ---------------------------------------------------------------------------
# 6. removal: the service (its tasks go on both nodes), ov1, bnet

out=$(dch A service rm s1 2>&1) || fail "docker service rm s1" "$out"
no_tasks() { [[ -z $(tasks_on A) && -z $(tasks_on B) ]]; }
wait_for 30 no_tasks || fail "the tasks of s1 are gone from both nodes within 30s" "A: $(tasks_on A | xargs)" "B: $(tasks_on B | xargs)"
out=$(dch A network rm ov1 2>&1) || fail "docker network rm ov1 (on A)" "$out"
out=$(dch B network rm bnet 2>&1) || fail "docker network rm bnet (on B)" "$out"
t0=$SECONDS
# A worker's local copy goes asynchronously after its last task.
left_keys() { KV=$(etcd_kv); kv_keys '/(pools|blocks|names)/'; }
freed() { [[ -z $(left_keys) && -z $(lease_pools A) && -z $(lease_pools B) ]]; }
wait_for "$FREE_BOUND" freed
KV=$(etcd_kv)
DETAIL="left in etcd: $(left_keys | xargs)"$'\n'"all keys: $(cut -f1 <<<"$KV" | xargs)"
check "6 after rm of s1, ov1 and bnet etcd holds no pool and no block ($(( SECONDS - t0 ))s), /gipam/config stays" \
    eval '[[ -z $(left_keys) ]] && kv_get /gipam/config >/dev/null'
pa=$(lease_pools A) pb=$(lease_pools B)
DETAIL="${NODE[A]}: [$pa], ${NODE[B]}: [$pb]"
check "6 neither node's lease file holds a pool" eval '[[ -z $pa && -z $pb ]]'

# the EXIT trap (cleanup_smh, then finish_run) prints the logs on failure and the summary last
exit $(( FAILED == 0 ? 0 : 1 ))
