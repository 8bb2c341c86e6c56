#!/usr/bin/env bash
# mmdebstrap customize hook of build-rootfs.sh: copies the kernel modules named in $MODULES, and
# every module they depend on, from fetch-kernel.sh's unpack ($KROOT) into the new root ($1), then
# runs depmod there. The dependency walk runs with the new root's own kmod (in a chroot) on a
# temporary copy of the whole module tree, so the host needs no kmod of its own.
set -euo pipefail
root="$1"
tmp="$root/tmp/kernel-modules"
mkdir -p "$tmp/lib/modules"
cp -a "$KROOT/lib/modules/$ABI" "$tmp/lib/modules/"
chroot "$root" depmod -b /tmp/kernel-modules "$ABI"
for m in $MODULES; do
  chroot "$root" modprobe -d /tmp/kernel-modules -S "$ABI" --show-depends "$m"
done | awk '$1=="insmod"{print $2}' | sort -u | while read -r f; do
  rel="${f#/tmp/kernel-modules}"
  mkdir -p "$root$(dirname "$rel")"
  cp "$root$f" "$root$rel"
done
cp "$tmp/lib/modules/$ABI"/modules.order "$tmp/lib/modules/$ABI"/modules.builtin* "$root/lib/modules/$ABI/"
rm -rf "$tmp"
chroot "$root" depmod "$ABI"
