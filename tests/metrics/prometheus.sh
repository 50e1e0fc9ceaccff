#!/usr/bin/env bash
# Metrics test: a real Prometheus server scrapes gipam's --metrics-address while allocations run,
# and what its HTTP API answers must match the requests made and the lease file; `promtool check
# metrics` must accept the exposition from the TCP address and from GET /metrics on the plugin socket.
#
#   bash tests/metrics/prometheus.sh /path/to/gipam
#
# Exit status: 0 all checks passed, 1 a check failed, 77 prometheus, promtool, curl, jq or ss is
# missing ("SKIP: reason"). Everything listens on 127.0.0.1 only, on free ports; all files are in $T.
# Environment: PROM_KEEP=1 keeps the temp dir, PROM_TIMEOUT=120 is the watchdog for the run, seconds.

set -u -o pipefail
source "$(dirname "$0")/../support/tap.sh"

GIPAM_BIN=${1:-}
RULES=$(readlink -f "$(dirname "$0")/../../conf/gipam-alerts.yml")
RULE_TESTS=$(readlink -f "$(dirname "$0")/gipam-alerts.test.yml")
V4_SUPER=198.18.0.0/16 V6_SUPER=2001:db8:100::/56 JOB=gipam
KEEP_TEMP_DIR=${PROM_KEEP:-0}
GPID="" PPID_PROM="" MPORT="" PPORT=""

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
terminate() {   # terminate NAME PID SECONDS: TERM, then KILL after SECONDS, then reap it
    local end=$((SECONDS + $3))
    kill -TERM "$2" 2>/dev/null
    while (( SECONDS < end )) && alive "$2"; do sleep 0.2; done
    alive "$2" && { log "$1 did not stop within $3s, killing it"; kill -KILL "$2" 2>/dev/null; }
    wait "$2" 2>/dev/null
}
listening() { [[ -n $(ss -Htln "sport = :$1") ]]; }
free_port() {   # free_port [NOT]: a loopback TCP port nothing listens on, other than NOT
    local p i
    # Below the kernel's ephemeral range (32768-60999): outgoing connections of tests running
    # beside this one (etcd clients) take ports there that ss -l does not show.
    for ((i = 0; i < 50; i++)); do
        p=$(( 20000 + RANDOM % 12000 ))
        [[ $p != "${1:-}" ]] && ! listening "$p" && { echo "$p"; return 0; }
    done
    return 1
}
# req ENDPOINT BODY: POST like dockerd on the plugin socket; prints the answer
req() { timeout 10 curl -sS --unix-socket "$T/gipam.sock" -X POST "http://x/$1" -d "$2"; }
# pq EXPR: the value of an instant query's first series, from Prometheus's HTTP API
pq() {
    timeout 10 curl -sS "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        jq -r '.data.result[0].value[1] // "none"'
}
leases() { "$GIPAM_BIN" leases --file "$T/leases.json" --json; }

cleanup_prom() {
    alive "$PPID_PROM" && terminate prometheus "$PPID_PROM" 15
    alive "$GPID" && terminate gipam "$GPID" 10
    if run_failed "$1"; then
        [[ -s $T/gipam.log ]] && tail -n 30 "$T/gipam.log" | log_section "gipam log (last 30 lines)"
        [[ -s $T/prometheus.log ]] && tail -n 30 "$T/prometheus.log" | log_section "prometheus log (last 30 lines)"
        [[ -f $T/leases.json ]] && log_section "lease file" <"$T/leases.json"
    fi
}

[[ -n $GIPAM_BIN ]] || { echo "usage: $0 /path/to/gipam" >&2; exit 1; }
[[ -x $GIPAM_BIN ]] || { echo "not ok - gipam binary $GIPAM_BIN is not executable"; echo "0 passed, 1 failed"; exit 1; }
GIPAM_BIN=$(readlink -f "$GIPAM_BIN")
for tool in prometheus promtool curl jq ss; do command -v $tool >/dev/null || skip "$tool missing"; done
make_temp_dir gipam-prom cleanup_prom
start_watchdog "${PROM_TIMEOUT:-120}"

# ---------------------------------------------------------------------------
# gipam with --metrics-address, Prometheus scraping it every second

MPORT=$(free_port) && PPORT=$(free_port "$MPORT") || { fail "harness: no free loopback port"; exit 1; }
"$GIPAM_BIN" -v4 "$V4_SUPER" -v6 "$V6_SUPER" -file "$T/leases.json" --socket "$T/gipam.sock" \
    --metrics-address "127.0.0.1:$MPORT" >>"$T/gipam.log" 2>&1 &
GPID=$!
up_gipam() { alive "$GPID" && [[ -S $T/gipam.sock ]] && listening "$MPORT"; }
wait_for 15 up_gipam || { fail "gipam serves metrics on 127.0.0.1:$MPORT"; exit 1; }
pass "gipam (pid $GPID) on $T/gipam.sock, metrics on 127.0.0.1:$MPORT"

cat >"$T/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ['$RULES']
scrape_configs:
  - job_name: $JOB
    static_configs: [{targets: ['127.0.0.1:$MPORT']}]
YML
out=$(promtool check config "$T/prometheus.yml" 2>&1) || { fail "harness: promtool check config" "$out"; exit 1; }
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" >>"$T/prometheus.log" 2>&1 &
PPID_PROM=$!
ready() { alive "$PPID_PROM" && timeout 5 curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null; }
wait_for 30 ready || { fail "prometheus ready on 127.0.0.1:$PPORT"; exit 1; }
scraping() { [[ $(pq "up{job=\"$JOB\"}") == 1 ]]; }
wait_for 20 scraping
DETAIL="up{job=\"$JOB\"}: $(pq "up{job=\"$JOB\"}")"
check "prometheus (pid $PPID_PROM) on 127.0.0.1:$PPORT has scraped gipam (up == 1)" scraping

# ---------------------------------------------------------------------------
# allocations while Prometheus scrapes

pool() {   # pool V6 [SUBNET]: RequestPool; prints the PoolID
    req IpamDriver.RequestPool "{\"AddressSpace\":\"gipam-local\",\"Pool\":\"${2:-}\",\"SubPool\":\"\",\"Options\":{},\"V6\":$1}" |
        jq -r '.PoolID // empty'
}
addr() { req IpamDriver.RequestAddress "{\"PoolID\":\"$1\",\"Address\":\"${2:-}\",\"Options\":null}"; }
got() { jq -r '.Address // empty' <<<"$1" | cut -d/ -f1; }
P1=$(pool false) P2=$(pool false) P3=$(pool true)
DETAIL="pools: '$P1' '$P2' '$P3'"
check "3 pools: 2 IPv4, 1 IPv6" eval '[[ $P1 == gipam-local/198.18.* && $P2 == gipam-local/198.18.* && $P3 == gipam-local/2001:db8:100:* ]]'
N1=${P1#gipam-local/} SPEC=${N1%.0/24}.10
OKS=()
for p in "$P1" "$P1" "$P2" "$P2" "$P3" "$P3"; do a=$(got "$(addr "$p")"); [[ -n $a ]] && OKS+=("$p $a"); done
a=$(got "$(addr "$P1" "$SPEC")"); [[ $a == "$SPEC" ]] && OKS+=("$P1 $a")
DETAIL="$(printf '%s\n' "${OKS[@]}")"
check "7 RequestAddress granted (3 in $P1, $SPEC among them, 2 in $P2, 2 in $P3)" eval '(( ${#OKS[@]} == 7 ))'
r1=$(addr gipam-local/10.99.0.0/24) r2=$(addr "$P1" "$SPEC")
r3=$(req IpamDriver.RequestPool "{\"AddressSpace\":\"gipam-local\",\"Pool\":\"$N1\",\"SubPool\":\"\",\"Options\":{},\"V6\":false}")
DETAIL="unknown pool: $r1; $SPEC again: $r2; RequestPool $N1: $r3"
check "refused: RequestAddress in an unknown pool, $SPEC again, RequestPool $N1 (overlap)" \
    eval '[[ $r1 == *Err* && $r2 == *Err* && $r3 == *Err* ]]'
read -r _ a1 <<<"${OKS[1]}"; read -r _ a5 <<<"${OKS[5]}"
r1=$(req IpamDriver.ReleaseAddress "{\"PoolID\":\"$P1\",\"Address\":\"$a1\"}")
r2=$(req IpamDriver.ReleaseAddress "{\"PoolID\":\"$P3\",\"Address\":\"$a5\"}")
LAST=$(date +%s.%N)
DETAIL="$r1; $r2"
check "2 ReleaseAddress ($a1, $a5) answered without an error" eval '[[ $r1 != *Err* && $r2 != *Err* ]]'

# a scrape that started after the last change: its sample's timestamp is later than LAST
scraped() { awk -v t="$(pq "timestamp(up{job=\"$JOB\"})")" -v l="$LAST" 'BEGIN { exit !(t + 0 > l + 0) }'; }
wait_for 20 scraped
DETAIL="last change at $LAST, last scrape at $(pq "timestamp(up{job=\"$JOB\"})")"
check "prometheus scraped gipam after the last change" scraped

# ---------------------------------------------------------------------------
# what Prometheus holds

is() {   # is EXPR WANT: a check that the query's value is WANT
    local v; v=$(pq "$1")
    if [[ $v == "$2" ]]; then pass "$1 == $2"; else fail "$1 == $2" "Prometheus says: $v"; fi
}
RA='gipam_requests_total{endpoint="IpamDriver.RequestAddress"'
is "$RA,result=\"ok\"}" 7
is "$RA,result=\"refused\"}" 2
is 'gipam_requests_total{endpoint="IpamDriver.ReleaseAddress",result="ok"}' 2
for r in unknown_pool already_allocated overlap; do is "gipam_refusals_total{reason=\"$r\"}" 1; done
is "gipam_supernet_pools{supernet=\"$V4_SUPER\"}" 2
is "gipam_supernet_pools{supernet=\"$V6_SUPER\"}" 1
L=$(leases) || { fail "gipam leases --json" "$L"; exit 1; }
HELD=$(jq -r '[.pools[].held | tonumber] | add' <<<"$L")
DETAIL="lease file: $HELD held (pools: $(jq -c '[.pools[] | [.pool, .held]]' <<<"$L"))"
check "the lease file holds the 5 addresses left (7 granted, 2 released)" eval '[[ $HELD == 5 ]]'
is 'sum(gipam_addresses_held)' "$HELD"
is 'gipam_addresses_held{family="ipv4"}' 4
for s in "$V4_SUPER" "$V6_SUPER"; do
    is "gipam_supernet_addresses_held{supernet=\"$s\"}" "$(jq -r --arg s "$s" '.supernets[] | select(.prefix == $s) | .addressesHeld' <<<"$L")"
    is "gipam_supernet_blocks_held{supernet=\"$s\"}" "$(jq -r --arg s "$s" '.supernets[] | select(.prefix == $s) | .blocksHeld' <<<"$L")"
done
v=$(pq gipam_durable_write_duration_seconds_count)
DETAIL="Prometheus says: $v"
check "gipam_durable_write_duration_seconds_count > 0 ($v)" awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'
is gipam_durable_write_failures_total 0
is gipam_build_info 1
is "up{job=\"$JOB\"}" 1

# ---------------------------------------------------------------------------
# promtool on the exposition, from the TCP address and from the plugin socket

lint() {   # lint NAME FILE: promtool check metrics; exit 3 is lint problems only (reported), else an error
    local out rc f=$2
    out=$(promtool check metrics <"$f" 2>&1); rc=$?
    [[ -n $out ]] && log_section "promtool check metrics, $1 (exit $rc)" <<<"$out"
    DETAIL="promtool exit $rc: $out"
    check "promtool check metrics accepts the exposition from $1 ($(grep -c '^gipam_' "$2") samples)" \
        eval '(( rc == 0 || rc == 3 )) && [[ -s $f ]]'
}
timeout 10 curl -sS "http://127.0.0.1:$MPORT/metrics" -o "$T/metrics.tcp"
lint "127.0.0.1:$MPORT" "$T/metrics.tcp"
timeout 10 curl -sS --unix-socket "$T/gipam.sock" http://x/metrics -o "$T/metrics.unix"
lint "the plugin socket" "$T/metrics.unix"
n=$(grep -vc '^#' "$T/metrics.tcp")
is "scrape_samples_scraped{job=\"$JOB\"}" "$n"
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }
DETAIL="$(diff <(series "$T/metrics.tcp") <(series "$T/metrics.unix") | head -n 20)"
check "both expositions have the same series" eval '[[ -z $DETAIL ]]'
cmp -s "$T/metrics.tcp" "$T/metrics.unix" && log "both expositions are byte-identical" ||
    log "the expositions' values differ: $(diff "$T/metrics.tcp" "$T/metrics.unix" | grep -c '^[<>]') lines"
# ---------------------------------------------------------------------------
# the alert rules gipam ships (conf/gipam-alerts.yml): valid, unit-tested, loaded by this
# Prometheus, quiet for a healthy gipam, and about series gipam really exports

out=$(promtool check rules "$RULES" 2>&1); DETAIL=$out
check "promtool check rules accepts conf/gipam-alerts.yml" eval '[[ $out == *SUCCESS* ]]'
out=$(cd "$(dirname "$RULE_TESTS")" && promtool test rules "$RULE_TESTS" 2>&1); DETAIL=$out
check "promtool test rules: tests/metrics/gipam-alerts.test.yml passes" eval '[[ $out == *SUCCESS* && $out != *FAILED* ]]'
rules_ok() {
    RULES_JSON=$(timeout 10 curl -sS "http://127.0.0.1:$PPORT/api/v1/rules" 2>&1)
    [[ $(jq '[.data.groups[].rules[]] | length' <<<"$RULES_JSON") == "$(grep -c -- '- alert:' "$RULES")" &&
       $(jq '[.data.groups[].rules[] | select(.health != "ok" or .lastEvaluation == "0001-01-01T00:00:00Z")] | length' \
            <<<"$RULES_JSON") == 0 ]]
}
wait_for 10 rules_ok
DETAIL=$(jq -c '[.data.groups[].rules[] | {name, health, lastError}]' <<<"$RULES_JSON" 2>&1)
check "prometheus loaded and evaluated every rule, each healthy" rules_ok
firing=$(timeout 10 curl -sS "http://127.0.0.1:$PPORT/api/v1/alerts" | jq -r '.data.alerts[] | "\(.labels.alertname) \(.state)"')
DETAIL=$firing
check "no gipam alert is pending or firing for this healthy gipam" eval '[[ -z $firing ]]'
# Every series the rule tests feed as gipam's exists in its exposition, with the same labels
# (gipam_shared_store_up: with etcd only; gipam_check_*: written by gipam check --metrics-file).
det=() ok=1
while read -r name labels; do
    [[ $name == gipam_shared_store_up ]] && continue
    got=$(grep -E "^$name(\{| )" "$T/metrics.tcp" | head -n 1 | sed -n 's/^[^{ ]*{\([^}]*\)}.*/\1/p' |
          grep -o '[a-z_]*=' | tr -d = | sort | xargs)
    grep -qE "^$name(\{| )" "$T/metrics.tcp" || { ok=0; det+=("$name: not exported"); continue; }
    [[ $got == "$labels" ]] || { ok=0; det+=("$name: labels [$got], the tests use [$labels]"); }
done < <(sed -n "s/^ *- series: '\([a-z_]*\){\([^}]*\)}'.*/\1 \2/p" "$RULE_TESTS" | grep -v 'job="node"' |
         while read -r n l; do [[ $n == up ]] && continue
             echo "$n $(grep -o '[a-z_]*=' <<<"$l" | tr -d = | grep -vx 'job\|instance' | sort | xargs)"; done | sort -u)
if (( ok )); then pass "the rule tests' gipam series are gipam's own (names and labels)"
else fail "the rule tests' gipam series are gipam's own (names and labels)" "${det[@]}"; fi

DETAIL="$(grep -c . "$T/gipam.log") log lines; $(tail -n 3 "$T/gipam.log")"
check "gipam is still running" alive "$GPID"

exit $(( FAILED == 0 ? 0 : 1 ))
