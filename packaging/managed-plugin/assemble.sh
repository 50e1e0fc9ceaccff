#!/usr/bin/env bash
# Assembles the Docker managed plugin: OUT/config.json and OUT/rootfs holding the gipam binary,
# exactly the shared libraries it loads (as ldd resolves them here) and the dynamic loader.
# No base image: nothing else is in the rootfs, and dockerd adds /proc, /dev, /etc/hosts, ...
#
#   assemble.sh GIPAM_BINARY CONFIG_JSON OUT
#
# OUT is replaced as a whole. `cmake --build build --target managed-plugin` runs this.
set -euo pipefail

(( $# == 3 )) || { echo "usage: assemble.sh GIPAM_BINARY CONFIG_JSON OUT" >&2; exit 2; }
binary=$1 config=$2 out=$3
[[ -x $binary ]] || { echo "assemble.sh: $binary is not an executable" >&2; exit 1; }

# ldd prints "libx.so => /path/libx.so (0x...)" for libraries and "/lib64/ld-linux-x86-64.so.2 (0x...)"
# for the loader, at the path the binary names (PT_INTERP), which is where the rootfs needs it.
# "not found" would give a plugin that cannot start.
deps=$(ldd "$binary")
if grep -q 'not found' <<<"$deps"; then
    echo "assemble.sh: unresolved libraries:" >&2
    grep 'not found' <<<"$deps" >&2
    exit 1
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps")

staging="$out.tmp.$$"
rm -rf "$staging"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/rootfs/usr/bin" "$staging/rootfs/run/docker/plugins" "$staging/rootfs/var/lib/gipam"
cp "$binary" "$staging/rootfs/usr/bin/gipam"
# Debug info is most of a RelWithDebInfo binary, and nobody debugs inside the plugin's rootfs.
if command -v strip >/dev/null; then strip --strip-unneeded "$staging/rootfs/usr/bin/gipam"; fi
for lib in "${libs[@]}"; do
    mkdir -p "$staging/rootfs$(dirname "$lib")"
    cp -L "$lib" "$staging/rootfs$lib"   # the file, not the symlink: the soname is all the loader asks for
done
cp "$config" "$staging/config.json"

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "managed plugin in $out: rootfs with gipam and ${#libs[@]} libraries"
