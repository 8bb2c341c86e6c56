#!/usr/bin/env bash
# Fetches Debian 12's amd64 kernel (and, with --headers, the headers that build out-of-tree
# modules such as gpio-sim) from Debian's packages and unpacks them, without installing them, into
# a cache folder that guest tests share:
#   $CACHE/kernel/<abi>/root/boot/vmlinuz-<abi>            the kernel QEMU boots with -kernel
#   $CACHE/kernel/<abi>/root/lib/modules/<abi>/...          its modules (i2c-stub, configfs, ...)
#   $CACHE/kernel/<abi>/root/usr/src/linux-headers-<abi>/   with --headers
# Prints the ABI (e.g. 6.1.0-57-amd64) on stdout. CACHE is $POS_GUEST_CACHE or .cache/guest in
# the repository. Idempotent: a complete unpack (marked by a .done file) is reused.
# Why unpack rather than install: this machine's own kernel is not Debian's and loads no modules;
# the kernel only ever runs inside a QEMU guest.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${POS_GUEST_CACHE:-$repo/.cache/guest}"
want_headers=0
[ "${1:-}" = "--headers" ] && want_headers=1
# The ABI is whatever linux-image-amd64 (the metapackage) points at in the configured suites.
abi="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -1)"
if [ -z "$abi" ]; then
  apt-get update -qq >&2
  abi="$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -1)"
fi
[ -n "$abi" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64 from apt" >&2; exit 1; }
dir="$cache/kernel/$abi"
mkdir -p "$dir/debs" "$dir/root"
unpack() { # $1 = marker name, rest = packages
  local marker="$dir/.done-$1"; shift
  [ -f "$marker" ] && return 0
  (cd "$dir/debs" && apt-get download "$@" >&2)
  for p in "$@"; do dpkg -x "$dir"/debs/"${p}"_*.deb "$dir/root"; done
  touch "$marker"
}
# Serialise concurrent fetches (several test files may start at once).
exec 9>"$cache/.fetch.lock"
flock 9
unpack image "linux-image-$abi"
if [ "$want_headers" = 1 ]; then
  common="${abi%-amd64}-common"
  kbuild="linux-kbuild-$(echo "$abi" | cut -d. -f1,2)"
  unpack headers "linux-headers-$abi" "linux-headers-$common" "$kbuild"
fi
echo "$abi"
