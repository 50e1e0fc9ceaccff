#!/usr/bin/env bash
# The Docker managed plugin (cmake --build build --target managed-plugin) under a real, private
# dockerd: docker plugin create / set / enable, a network from its supernets, the lease file on
# the host mount, then network rm, plugin disable and rm.
#
#   bash tests/packaging/managed_plugin.sh BUILD/managed-plugin
#
# Exit status: 0 all checks passed, 1 a check failed, 77 dockerd cannot run here ("SKIP: reason").
#
# Like tests/e2e/run.sh, dockerd runs in its own mount and network namespace with its own data
# root, exec root and API socket in one mktemp -d directory (tests/support/private_dockerd.sh); its
# own containerd runs the plugin with runc. Everything is removed again by PID at the end.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), PLUGIN_KEEP=1 keeps the temp dir,
# PLUGIN_TIMEOUT=240 is the watchdog for the whole run, seconds.

set -u -o pipefail
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"

PLUGIN_DIR=${1:-}
PLUGIN=gipam                      # as the README has it; the dockerd is private, so no clash
DRIVER=$PLUGIN:latest             # the name a managed plugin registers its IPAM driver under
V4_SUPER=198.18.0.0/16            # as in README.md; config.json sets no IPv6 supernet, so a
V6_SUPER=2001:db8:100::/56        # network with an IPv6 pool shows that `docker plugin set` works
KEEP_TEMP_DIR=${PLUGIN_KEEP:-0}
DC_TIMEOUT=90                     # bound on one dc call, seconds
PLUGIN_ID=""

# Before the temp dir goes (tap.sh's finish_run): what a failed check left in dockerd, dockerd
# stopped by PID, its log shown if anything failed, leaked mounts and cgroups removed.
cleanup_plugin() {
    local rc=$1
    if alive "$DOCKERD_PID"; then
        dc network rm net1 >/dev/null 2>&1
        dc plugin disable -f "$PLUGIN" >/dev/null 2>&1
        dc plugin rm -f "$PLUGIN" >/dev/null 2>&1
    fi
    dockerd_stop
    if run_failed "$rc" && [[ -s $T/dockerd.log ]]; then
        grep -E 'level=(error|warning|fatal)|plugin=' "$T/dockerd.log" | tail -n 60 |
            log_section "dockerd log: errors, warnings and the plugin's output (last 60)"
    fi
    dockerd_remove_leftovers
    # the plugin's own cgroups are named by its ID (normally removed already)
    [[ $PLUGIN_ID =~ ^[0-9a-f]{64}$ ]] && remove_cgroups "$PLUGIN_ID"
}

# ---------------------------------------------------------------------------
# preflight

require_plugin_dir
dockerd_preflight

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

make_temp_dir gipam-plugin cleanup_plugin
start_watchdog "${PLUGIN_TIMEOUT:-240}"
mkdir -p -m 0700 "$T/state"   # stands for /var/lib/gipam
dockerd_prepare "gipam-plugin-$$"
dockerd_start_or_skip
# Can this machine run a container at all? If not, a failing plugin would say nothing about gipam.
if [[ -x /bin/busybox ]]; then
    dockerd_import_busybox gipam-probe:latest true
    dc rmi gipam-probe:latest >/dev/null 2>&1
fi
log "dockerd up (pid $DOCKERD_PID) in $T, $(( $(date +%s) - START_TS ))s"

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
    # dockerd logs a plugin's stdout at info and its stderr at error: gipam's info lines (the
    # grant) must come out at info, its warnings (a refusal) at error.
    dc network create --ipam-driver "$DRIVER" --subnet "$n4" clash >/dev/null 2>&1
    granted=$(grep -F "RequestPool gipam-local/$n4 granted" "$T/dockerd.log" | tail -n 1)
    refused=$(grep -F "refused: subnet $n4 overlaps" "$T/dockerd.log" | tail -n 1)
    if [[ $granted == *level=info* && $refused == *level=error* ]]; then
        pass "plugin log levels: a grant at level=info, a refusal at level=error"
    else
        fail "plugin log levels: a grant at level=info, a refusal at level=error" "grant: $granted" "refusal: $refused"
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
