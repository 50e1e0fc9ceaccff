# IPv4 and IPv6 addresses and prefixes in pure bash, for the shell tests to judge what dockerd
# reports. An address may carry /len where the function says so; IPv6 is compared as 32 hex digits.

ip4_int() {   # 198.18.0.1 -> 3323068417
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    echo $(( (a << 24) | (b << 16) | (c << 8) | d ))
}
ip4_str() {   # 3323068417 -> 198.18.0.1
    local n=$1
    echo "$(( (n >> 24) & 255 )).$(( (n >> 16) & 255 )).$(( (n >> 8) & 255 )).$(( n & 255 ))"
}
ip6_hex() {   # 2001:db8::1 -> 20010db8000000000000000000000001
    local a=${1,,} head tail IFS=: g out="" n=0 i
    local -a hg=() tg=()
    if [[ $a == *::* ]]; then
        head=${a%%::*}; tail=${a#*::}
    else
        head=$a; tail=""
    fi
    [[ -n $head ]] && read -r -a hg <<<"$head"
    [[ -n $tail ]] && read -r -a tg <<<"$tail"
    n=$(( 8 - ${#hg[@]} - ${#tg[@]} ))
    for g in "${hg[@]}"; do out+=$(printf '%04x' "0x${g:-0}"); done
    for ((i = 0; i < n; i++)); do out+=0000; done
    for g in "${tg[@]}"; do out+=$(printf '%04x' "0x${g:-0}"); done
    echo "$out"
}
# canon ADDR: a form to compare addresses by (ADDR may carry /len, dropped)
canon() {
    local a=${1%%/*}
    if [[ $a == *:* ]]; then ip6_hex "$a"; else echo "$a"; fi
}
# in_cidr ADDR CIDR: ADDR (its /len ignored) lies in CIDR, of the same family
in_cidr() {
    local ip=${1%%/*} net=${2%/*} len=${2#*/}
    if [[ $ip == *:* ]]; then
        [[ $net == *:* ]] || return 1
        local a b k r m
        a=$(ip6_hex "$ip"); b=$(ip6_hex "$net")
        k=$(( len / 4 )); r=$(( len % 4 ))
        [[ ${a:0:k} == "${b:0:k}" ]] || return 1
        (( r == 0 )) && return 0
        m=$(( (0xf << (4 - r)) & 0xf ))
        (( (0x${a:k:1} & m) == (0x${b:k:1} & m) ))
    else
        [[ $net == *:* ]] && return 1
        local mask
        mask=$(( len == 0 ? 0 : (0xffffffff << (32 - len)) & 0xffffffff ))
        (( ($(ip4_int "$ip") & mask) == ($(ip4_int "$net") & mask) ))
    fi
}
# inside SUBNET SUPERNET: SUBNET is a prefix as long as SUPERNET or longer, within it
inside() {
    [[ $1 == */* ]] && (( ${1#*/} >= ${2#*/} )) && in_cidr "$1" "$2"
}
# is_block CIDR LEN SUPER: CIDR has prefix length LEN, no host bits, lies in SUPER
is_block() {
    local c=$1 want=$2 super=$3
    [[ $c == */* && ${c#*/} == "$want" ]] || return 1
    inside "$c" "$super" || return 1
    # no host bits: the address equals the masked address
    if [[ $c == *:* ]]; then
        local h k r
        h=$(ip6_hex "${c%/*}"); k=$(( want / 4 )); r=$(( want % 4 ))
        if (( r )); then
            (( (0x${h:k:1} & ((1 << (4 - r)) - 1)) == 0 )) || return 1
            k=$((k + 1))
        fi
        [[ -z ${h:k} || ${h:k} =~ ^0+$ ]]
    else
        local n mask
        n=$(ip4_int "${c%/*}")
        mask=$(( want == 0 ? 0 : (0xffffffff << (32 - want)) & 0xffffffff ))
        (( (n & mask) == n ))
    fi
}
# overlaps CIDR CIDR: same family, one contains the other's network address
overlaps() {
    [[ -n $1 && -n $2 ]] || return 1
    in_cidr "${1%/*}" "$2" || in_cidr "${2%/*}" "$1"
}
# first_host CIDR: the network address + 1, in canon form
first_host() {
    local c=$1
    if [[ $c == *:* ]]; then
        local h; h=$(ip6_hex "${c%/*}")
        printf '%s%x\n' "${h:0:31}" $(( 0x${h:31:1} + 1 ))
    else
        ip4_str $(( $(ip4_int "${c%/*}") + 1 ))
    fi
}
# note_addr WHAT ADDR: for a check that addresses are distinct and inside $SUBNET. Adds "WHAT: ADDR"
# to the array det; ADDR outside $SUBNET or noted before (in the associative array seen, declared
# by the caller) adds a line saying so and sets ok=0.
note_addr() {
    det+=("$1: $2")
    in_cidr "$2" "$SUBNET" || { ok=0; det+=("  $2 is not inside $SUBNET"); }
    [[ -z ${seen[$2]:-} ]] || { ok=0; det+=("  $2 is also ${seen[$2]}"); }
    seen[$2]=$1
}
