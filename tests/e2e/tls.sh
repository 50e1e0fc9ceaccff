#!/usr/bin/env bash
# TLS end-to-end test: gipam serving HTTPS with mutual TLS on 127.0.0.1, found by a real, private
# dockerd through the .json spec file it writes (../shared/ipam-protocol.md §1.3), and refusing
# every client that is not dockerd (§1.6).
#
#   bash tests/e2e/tls.sh /path/to/gipam
#
# Exit status: 0 all checks passed, 1 a check failed, 77 dockerd cannot run here ("SKIP: reason").
#
# dockerd runs in its own mount and network namespace (tests/support/private_dockerd.sh). A plugin
# on the host's 127.0.0.1 is out of its reach, so gipam runs in dockerd's network namespace
# (nsenter --net) but keeps the host's mount namespace: the certificate paths in $T it writes into
# the spec are the same for dockerd, which sees $T too, and $T/etc/plugins is its
# /etc/docker/plugins. curl, the stand-in for a hostile local client, runs there as well.
# Certificates: a test CA, a server certificate for IP 127.0.0.1 (dockerd checks the host of Addr),
# dockerd's client certificate; a second CA and its client certificate are the wrong ones.
#
# Environment: DOCKER=/path/to/docker (default /usr/bin/docker), TLS_KEEP=1 keeps the temp dir,
# TLS_TIMEOUT=240 is the watchdog for the whole run, seconds.

set -u -o pipefail
support=$(dirname "$0")/../support
source "$support/tap.sh"
source "$support/cidr.sh"
source "$support/private_dockerd.sh"

GIPAM_BIN=${1:-}
NAME="gipam-tls-$$"   # the plugin's name, also the private dockerd's tag
V4_SUPER=198.18.0.0/16
IMG=gipam-tls-img:latest
KEEP_TEMP_DIR=${TLS_KEEP:-0}
GPID="" NETNS="" PORT="" URL=""

in_netns() { nsenter --net="$NETNS" "$@"; }
# hcurl [curl args...] PATH: POST PATH like dockerd (Content-Length: 0 unless -d) in dockerd's
# network namespace; prints the body then " HTTP <code>"; curl's exit status
hcurl() {
    local path=${*: -1} len=(-H 'Content-Length: 0')
    [[ " $* " == *" -d "* ]] && len=()   # curl counts a body itself; a forced 0 would cut it off
    in_netns timeout 10 curl -sS -o "$T/body" -w '%{http_code}' -X POST "${len[@]}" \
        "${@:1:$#-1}" "$URL/$path" >"$T/code" 2>"$T/curl.err"
    local rc=$?
    printf '%s HTTP %s' "$(cat "$T/body" 2>/dev/null)" "$(cat "$T/code")"
    return $rc
}
pools() {   # "id pool held-runs" per pool; "unreadable" if the file is not a lease file
    jq -e '.pools | type == "array"' "$T/leases.json" >/dev/null 2>&1 || { echo "unreadable lease file"; return; }
    jq -r '.pools[] | "\(.id) \(.pool) \(.addresses | length)"' "$T/leases.json"
}

# Before the temp dir goes: containers, dockerd, then gipam (stop it after dockerd, as the README
# says), all by PID; logs on failure; leaked mounts and cgroups.
cleanup_tls() {
    local rc=$1
    alive "$DOCKERD_PID" && { dc rm -f c1 >/dev/null 2>&1; dc network rm tlsnet >/dev/null 2>&1; }
    dockerd_stop
    alive "$GPID" && terminate gipam "$GPID" 10
    if run_failed "$rc"; then
        [[ -s $T/gipam.log ]] && tail -n 60 "$T/gipam.log" | log_section "gipam log (last 60 lines)"
        [[ -s $T/dockerd.log ]] && grep -E 'level=(error|warning|fatal)' "$T/dockerd.log" | tail -n 30 |
            log_section "dockerd log: errors/warnings (last 30)"
        [[ -f $T/leases.json ]] && log_section "lease file" <"$T/leases.json"
    fi
    dockerd_remove_leftovers
}

# ---------------------------------------------------------------------------
# preflight, certificates, dockerd

require_gipam_bin
dockerd_preflight nsenter openssl curl jq ss /bin/busybox

make_temp_dir gipam-tls cleanup_tls
start_watchdog "${TLS_TIMEOUT:-240}"
dockerd_prepare "$NAME"
P=$T/pki
mkdir -m 0700 "$P"
cat >"$P/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/$1.key"; }
mkca() {   # mkca NAME: self-signed CA NAME.pem, valid 1 day
    key "$1" && openssl req -x509 -new -key "$P/$1.key" -subj "/CN=gipam test $1" -days 1 \
        -config "$P/openssl.cnf" -extensions ca -out "$P/$1.pem"
}
mkcert() {   # mkcert NAME CN EXTENSIONS CA: NAME.pem signed by CA, valid 1 day
    key "$1" && openssl req -new -key "$P/$1.key" -subj "/CN=$2" -config "$P/openssl.cnf" -out "$P/$1.csr" &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/$4.pem" -CAkey "$P/$4.key" -set_serial "0x$(openssl rand -hex 8)" \
            -days 1 -extfile "$P/openssl.cnf" -extensions "$3" -out "$P/$1.pem"
}
out=$( { mkca ca && mkcert server gipam server ca && mkcert client dockerd client ca &&
         mkca wrongca && mkcert wrong dockerd client wrongca; } 2>&1) || { fail "harness: openssl" "$out"; exit 1; }
chmod 0600 "$P"/*.key
pass "certificates made: CA, server (IP:127.0.0.1, serverAuth), client (clientAuth), wrong CA and its client"
GOOD=(--cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client.key")

dockerd_start_or_skip
dockerd_import_busybox "$IMG" sh ip sleep true
NETNS=/proc/$DOCKERD_PID/ns/net
log "dockerd up (pid $DOCKERD_PID) in $T, $(( $(date +%s) - START_TS ))s"

# ---------------------------------------------------------------------------
# gipam over TLS in dockerd's network namespace, and its spec file

# any free port: the namespace is dockerd's alone, so only it could hold one
for ((i = 0; i < 20; i++)); do
    PORT=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-60999)
    [[ -z $(in_netns ss -Htln "sport = :$PORT") ]] && break
done
URL=https://127.0.0.1:$PORT
SPEC=$T/etc/plugins/$NAME
echo "tcp://127.0.0.1:1" >"$SPEC.spec"   # a leftover from plain TCP mode; gipam must remove it
# nsenter execs gipam (no --fork), so $! is gipam's PID
nsenter --net="$NETNS" "$GIPAM_BIN" -v4 "$V4_SUPER" -file "$T/leases.json" -address "127.0.0.1:$PORT" \
    --spec-dir "$T/etc/plugins" --name "$NAME" --tls-cert "$P/server.pem" --tls-key "$P/server.key" \
    --tls-ca "$P/ca.pem" --docker-tls-cert "$P/client.pem" --docker-tls-key "$P/client.key" \
    >>"$T/gipam.log" 2>&1 &
GPID=$!
listening() { alive "$GPID" && [[ -f $SPEC.json && -n $(in_netns ss -Htln "sport = :$PORT") ]]; }
wait_for 15 listening || { fail "gipam serves TLS on 127.0.0.1:$PORT" "$(tail -n 20 "$T/gipam.log")"; exit 1; }
pass "gipam (pid $GPID) listens on 127.0.0.1:$PORT in dockerd's network namespace"

spec=$(cat "$SPEC.json")
DETAIL="$SPEC.json: $spec"
spec_ok() {
    jq -e --arg a "$URL" --arg ca "$P/ca.pem" --arg c "$P/client.pem" --arg k "$P/client.key" \
        '.Addr == $a and .TLSConfig.CAFile == $ca and .TLSConfig.CertFile == $c and .TLSConfig.KeyFile == $k
         and .TLSConfig.InsecureSkipVerify == false' "$SPEC.json" >/dev/null
}
check "spec $NAME.json: Addr $URL, TLSConfig with the absolute CA and client paths, verification on" spec_ok
DETAIL="$(ls -l "$T/etc/plugins")"
check "no $NAME.spec left beside it (the leftover was removed)" eval '[[ ! -e $SPEC.spec ]]'

# ---------------------------------------------------------------------------
# dockerd over mutual TLS: a network and a container

out=$(dc network create --ipam-driver "$NAME" tlsnet 2>&1); rc=$?
N4=$(dc network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' tlsnet 2>/dev/null)
DETAIL="exit $rc: $out; subnet: $N4"
check "docker network create --ipam-driver $NAME tlsnet gets a /24 from $V4_SUPER over TLS" \
    eval '(( rc == 0 )) && is_block "$N4" 24 "$V4_SUPER"'
out=$(dc run -d --name c1 --network tlsnet "$IMG" sh -c 'trap "exit 0" TERM; sleep 3600 & wait' 2>&1) &&
    out=$(dc exec c1 ip -o -4 addr show dev eth0 2>&1)
A4=$(awk '$3 == "inet" { print $4; exit }' <<<"$out")
DETAIL="$out"
check "container c1 on tlsnet starts with an address in $N4 ($A4)" in_cidr "${A4:-x}" "${N4:-0.0.0.0/32}"
POOL_ID=$(jq -r '.pools[0].id // empty' "$T/leases.json")
LEASES_BEFORE=$(pools)

# ---------------------------------------------------------------------------
# refusals: every client that is not dockerd

body=$(hcurl --cacert "$P/ca.pem" Plugin.Activate); rc=$?
DETAIL="curl exit $rc: $body $(cat "$T/curl.err")"
check "no client certificate: the handshake fails" eval '(( rc != 0 )) && [[ $body != *Implements* ]]'
DETAIL="$(tail -n 5 "$T/gipam.log")"
check "gipam logs a warning: connection refused ... peer did not return a certificate" wait_for 3 \
    grep -qE 'warning.*connection refused:.*peer did not return a certificate' "$T/gipam.log"

body=$(hcurl --cacert "$P/ca.pem" --cert "$P/wrong.pem" --key "$P/wrong.key" Plugin.Activate); rc=$?
DETAIL="curl exit $rc: $body $(cat "$T/curl.err")"
check "client certificate from the wrong CA: refused" eval '(( rc != 0 )) && [[ $body != *Implements* ]]'

URL=http://127.0.0.1:$PORT
body=$(hcurl Plugin.Activate); rc=$?
URL=https://127.0.0.1:$PORT
DETAIL="curl exit $rc: $body $(cat "$T/curl.err")"
check "plain http:// on the TLS port: refused" eval '[[ $body != *Implements* ]]'

body=$(hcurl "${GOOD[@]}" -H 'Origin: https://evil.example' -d "{\"PoolID\":\"$POOL_ID\"}" IpamDriver.ReleasePool)
after=$(pools)
DETAIL="$body; pools before: $LEASES_BEFORE; after: $after"
check "right certificate but Origin: https://evil.example: ReleasePool of $POOL_ID gets 403, pool kept" \
    eval '[[ -n $POOL_ID && $body == *"HTTP 403" && $after == "$LEASES_BEFORE" ]]'
body=$(hcurl "${GOOD[@]}" -H 'Sec-Fetch-Site: cross-site' Plugin.Activate)
DETAIL="$body"
check "right certificate but Sec-Fetch-Site: 403" eval '[[ $body == *"HTTP 403" ]]'
body=$(hcurl "${GOOD[@]}" -H 'Host: attacker.example' Plugin.Activate)
DETAIL="$body"
check "right certificate but Host: attacker.example: 403" eval '[[ $body == *"HTTP 403" ]]'
body=$(hcurl "${GOOD[@]}" Plugin.Activate); rc=$?
DETAIL="curl exit $rc: $body $(cat "$T/curl.err")"
check "right certificate, nothing odd: Plugin.Activate 200" \
    eval '(( rc == 0 )) && [[ $body == *IpamDriver*"HTTP 200" ]]'

# ---------------------------------------------------------------------------
# releases over TLS

out=$(dc rm -f c1 2>&1); rc=$?
DETAIL="exit $rc: $out; pools: $(pools)"
check "docker rm -f c1 releases its address (only the gateway left in the pool)" \
    eval '(( rc == 0 )) && [[ $(pools) == "$POOL_ID $N4 1" ]]'
out=$(dc network rm tlsnet 2>&1); rc=$?
DETAIL="exit $rc: $out; pools: $(pools)"
check "docker network rm tlsnet releases the pool (no pool in the lease file)" \
    eval '(( rc == 0 )) && [[ -z $(pools) ]]'
# what dockerd says when it cannot reach or trust a plugin, e.g. a retried Activate; $T is cut out
# of the lines first (its name holds "gipam-tls"), containerd's lines (namespace=tag) are not ours
DETAIL="$(grep -E 'level=(error|warning)' "$T/dockerd.log" | grep -v "namespace=$NAME" | sed "s#$T#T#g" |
          grep -iE "127\.0\.0\.1:$PORT|x509|handshake|certificate|ipam ?driver|plugin.*$NAME" | tail -n 5)"
check "dockerd logged no IPAM, plugin connection or TLS errors" eval '[[ -z $DETAIL ]]'

exit $(( FAILED == 0 ? 0 : 1 ))
