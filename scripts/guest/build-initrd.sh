#!/usr/bin/env bash
# Builds the tiny initramfs that boots a flashed disk in QEMU and prints its path on stdout.
#
# Why an initramfs at all: Debian's kernel builds virtio_blk, virtio_pci and ext4 as modules
# (CONFIG_VIRTIO_BLK=m, CONFIG_EXT4_FS=m), so it cannot mount the root disk by itself. Why not
# Debian's initramfs-tools: that needs the kernel package installed in the root file system
# (hundreds of MB of modules on a 256 MB handheld's disk). This one is Debian's busybox-static,
# the modules for the root disk taken from the root file system's tarball (build-rootfs.sh put
# them and their modules.dep there) and the /init below: load them in modules.dep order, find
# the root by its label (root=LABEL=posroot on the kernel command line), mount it read-only
# (systemd-fsck-root checks it after a power cut, then fstab remounts it), switch_root to
# systemd. On any failure it powers the guest off with a message on the console: a test fails
# fast instead of waiting at a shell. The archive is made by busybox cpio (the host needs no cpio).
#   $CACHE/initrd/<key>/initrd.cpio.gz   key = this script + the rootfs tarball's key
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${POS_GUEST_CACHE:-$repo/.cache/guest}"
rootfs="$("$repo/scripts/guest/build-rootfs.sh")"
# crc32c_generic: ext4 asks the crypto API for crc32c (metadata checksums); no modprobe here to load it.
want="virtio_pci virtio_blk crc32c_generic ext4"
key="$( (cat "$0"; echo "$rootfs") | sha256sum | cut -c1-16)"
out="$cache/initrd/$key"
if [ -f "$out/initrd.cpio.gz" ]; then echo "$out/initrd.cpio.gz"; exit 0; fi
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [ -f "$out/initrd.cpio.gz" ]; then echo "$out/initrd.cpio.gz"; exit 0; fi
bb="$cache/initrd/busybox"
if [ ! -x "$bb/bin/busybox" ]; then
  rm -rf "$bb" && mkdir -p "$bb/debs"
  (cd "$bb/debs" && apt-get download busybox-static >&2)
  dpkg -x "$bb"/debs/busybox-static_*.deb "$bb"
fi
tree="$out/tree"
rm -rf "$tree" && mkdir -p "$tree"/{bin,proc,sys,dev,newroot,modules,mods}
cp "$bb/bin/busybox" "$tree/bin/busybox"
tar -x -f "$rootfs" -C "$tree/mods" --wildcards './usr/lib/modules/*'
mdir="$(echo "$tree"/mods/usr/lib/modules/*)"
# Load order: for each wanted module, its modules.dep dependencies last-first, then itself.
order=()
add() { # $1 = path relative to the modules dir
  local m="$1" d deps
  for d in "${order[@]:-}"; do [ "$d" = "$m" ] && return 0; done
  deps="$(awk -v m="$m:" '$1==m{for(i=NF;i>1;i--)print $i}' "$mdir/modules.dep")"
  for d in $deps; do add "$d"; done
  order+=("$m")
}
for w in $want; do add "$(awk -F: -v w="/$w.ko" 'index($1,w)==length($1)-length(w)+1{print $1}' "$mdir/modules.dep" | head -1)"; done
for m in "${order[@]}"; do cp "$mdir/$m" "$tree/modules/"; basename "$m" >> "$tree/modules/order"; done
rm -rf "$tree/mods"
cat > "$tree/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "pos-initrd: $*"; poweroff -f; }
for m in $(cat /modules/order); do insmod "/modules/$m" || fail "insmod $m failed"; done
root=
for a in $(cat /proc/cmdline); do case $a in root=*) root=${a#root=};; esac; done
[ -n "$root" ] || fail "no root= on the kernel command line"
dev=
for i in $(seq 1 50); do dev=$(findfs "$root" 2>/dev/null) && break; sleep 0.1; done
[ -n "$dev" ] || fail "root $root not found"
mount -t ext4 -o ro "$dev" /newroot || fail "cannot mount $dev"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
chmod +x "$tree/init"
(cd "$tree" && find . | "$bb/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > "$out/initrd.cpio.gz.partial"
mv "$out/initrd.cpio.gz.partial" "$out/initrd.cpio.gz"
echo "$out/initrd.cpio.gz"
