# Reading gipam's keys out of etcd in the end-to-end tests. The caller defines ec (etcdctl with
# its endpoints). Sourced; uses jq and awk.

# etcd_kv [PREFIX]: every key under PREFIX (default: all) as "KEY<tab>VALUE" (newlines as spaces), sorted
etcd_kv() {
    ec get --prefix "${1:-/}" -w json | jq -r '.kvs[]? | "\(.key | @base64d)\t\(.value | @base64d | gsub("\n"; " "))"' | sort
}
kv_get() { awk -F'\t' -v k="$1" '$1 == k { print $2; f = 1 } END { exit !f }' <<<"$KV"; }   # in $KV
kv_keys() { awk -F'\t' -v re="$1" '$1 ~ re { print $1 }' <<<"$KV"; }                      # keys matching a regex
block_key() { printf '%s/blocks/4/%08x/%s\n' "${2:-/gipam}" "$(ip4_int "${1%/*}")" "${1#*/}"; }   # SUBNET [PREFIX]
block_value() {   # block_value POOL NODE SCOPE: a block key's pool, node and scope, for comparing with jq -c
    jq -cn --arg p "$1" --arg n "$2" --arg s "$3" '{pool: $p, node: $n, scope: $s}'
}
hold_of() { jq -r '"\(.holder) \(.use)"' <<<"$1" 2>&1; }   # an address key's value: "HOLDER USE"
