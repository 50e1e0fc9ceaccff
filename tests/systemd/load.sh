#!/bin/bash
# The client loop of tests/systemd/run.sh, copied into the container and run there as
#   bash load.sh POOL_ID STOP_FILE MAX_SECONDS >OUT
# Like dockerd: RequestAddress then ReleaseAddress on one pool over the plugin socket, one request
# at a time, until STOP_FILE exists (or MAX_SECONDS pass). One line per request:
#   <epoch> OK req ADDR | OK rel ADDR | FAIL req rc=N body=... | FAIL rel ADDR rc=N body=...
# An address whose release failed is, as far as this client knows, still held by it.
pool=$1 stop=$2 max=$3
sock=/run/docker/plugins/gipam.sock
post() { curl -s -m 10 --unix-socket "$sock" -X POST "http://x/IpamDriver.$1" -d "$2"; }
end=$((SECONDS + max))
while (( SECONDS < end )) && [[ ! -e $stop ]]; do
    body=$(post RequestAddress "{\"PoolID\":\"$pool\",\"Address\":\"\",\"Options\":null}"); rc=$?
    addr=$(sed -n 's|.*"Address":"\([0-9.]*\)/[0-9]*".*|\1|p' <<<"$body")
    if (( rc != 0 )) || [[ -z $addr ]]; then
        echo "$EPOCHREALTIME FAIL req rc=$rc body=$body"
        sleep 0.05   # a refused connection fails at once; do not spin
        continue
    fi
    echo "$EPOCHREALTIME OK req $addr"
    body=$(post ReleaseAddress "{\"PoolID\":\"$pool\",\"Address\":\"$addr\"}"); rc=$?
    if (( rc != 0 )) || [[ $body != '{}' ]]; then
        echo "$EPOCHREALTIME FAIL rel $addr rc=$rc body=$body"
        sleep 0.05
    else
        echo "$EPOCHREALTIME OK rel $addr"
    fi
done
