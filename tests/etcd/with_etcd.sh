#!/usr/bin/env bash
# Runs a test command against another etcd than Debian 12's 3.4: GIPAM_TEST_ETCD is set to etcd
# VERSION (3.5: trixie's etcd-server, extracted once into /var/cache/gipam-tests). Exit 77 (skip)
# when that etcd cannot be had here. Usage: with_etcd.sh VERSION COMMAND [ARG...]
set -uo pipefail
version=$1
shift
scratch=$(mktemp -d /tmp/gipam-etcd.XXXXXX)
trap 'rm -rf --one-file-system "$scratch"' EXIT
binary=$(DEBIAN_ROOTFS_TMP=$scratch bash "$(dirname "$0")/../support/debian_rootfs.sh" etcd_binary "$version")
status=$?
[[ $status -eq 0 ]] || exit "$status"
echo "# etcd $("$binary" --version | head -n 1) ($binary)"
GIPAM_TEST_ETCD=$binary "$@"
