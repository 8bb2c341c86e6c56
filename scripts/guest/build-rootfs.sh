#!/usr/bin/env bash
# Builds the base OS of a flashed terminal: a minimal Debian 12 (bookworm) root file system with
# systemd, from Debian's packages by mmdebstrap, as a tarball (ownership, modes and device nodes
# kept, so mke2fs -d on its unpacked tree gives the same file system on any machine).
#   $CACHE/rootfs/<key>/rootfs.tar     key = sha256 of this script's package list, hooks and the
#                                      guest kernel's ABI: a new list or kernel builds a new tree
# Prints the tarball's path on stdout. CACHE is $POS_GUEST_CACHE or .cache/guest in the repository.
# CI builds it from scratch (nothing here is downloaded prebuilt); see README "Booted on a real kernel"
# for how long that takes.
#
# Why these packages, and nothing else (--variant=minbase is Essential: yes + apt):
#   systemd systemd-sysv  init, the unit's Type=notify and WatchdogSec=, poweroff
#   udev kmod             device nodes for /dev/ttyS*, /dev/i2c-*; modprobe for i2c-stub / i2c-dev
#   iproute2              `ip` for the network test and the recovery menu's network settings
#   e2fsprogs             fsck.ext4 that systemd-fsck runs at boot after a power cut
#   procps                ps / pkill used by the guest tests' checks
#   tpm2-tools            the TPM device-key provider's tools (runtime/device-key-tpm.ts) for boards
#                         whose board file says "deviceKey": {"provider": "tpm2"}; pulls tpm-udev
#                         (group tss, which owns /dev/tpmrm0) and the TCTI libraries. Debian's
#                         kernel has the TPM TIS/CRB drivers built in (CONFIG_TCG_TIS=y)
# Masked: the timers that would run apt, e2scrub and fstrim on a till, and e2scrub_reap.service (it
# removes stale e2scrub snapshots of LVM volumes; the terminal has no LVM), which ran at every boot
# and took 20-30 s under TCG beside the terminal's start.
# Node is not here: the release package carries its own node (node/bin/node in the slot).
# The kernel's modules the terminal needs (i2c-stub, i2c-dev, virtio-net and what they depend on)
# are copied from fetch-kernel.sh's unpack into /lib/modules/<abi>, not the whole tree (hundreds of MB).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${POS_GUEST_CACHE:-$repo/.cache/guest}"
packages="systemd,systemd-sysv,udev,kmod,iproute2,e2fsprogs,procps,tpm2-tools"
# virtio_pci virtio_blk ext4: the root disk (the tiny initramfs of build-initrd.sh loads them).
modules="i2c-stub i2c-dev virtio_net virtio_pci virtio_blk ext4"
abi="$("$repo/scripts/guest/fetch-kernel.sh")"
kroot="$cache/kernel/$abi/root"
key="$(printf '%s\n' "$packages" "$modules" "$abi" "$(sed -n '/^# hooks-begin/,/^# hooks-end/p' "$0")" | sha256sum | cut -c1-16)"
out="$cache/rootfs/$key"
if [ -f "$out/rootfs.tar" ]; then echo "$out/rootfs.tar"; exit 0; fi
mkdir -p "$out"
exec 9>"$cache/rootfs/.build.lock"
flock 9
if [ -f "$out/rootfs.tar" ]; then echo "$out/rootfs.tar"; exit 0; fi
start=$(date +%s)
# hooks-begin (part of the cache key)
mmdebstrap --variant=minbase --include="$packages" --mode=root --format=tar \
  --customize-hook='echo pos-terminal > "$1/etc/hostname"' \
  --customize-hook='printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n" > "$1/etc/systemd/network/20-wired.network"' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
  --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer' \
  --customize-hook='echo "root:pos" | chroot "$1" chpasswd' \
  --customize-hook="KROOT='$kroot' ABI='$abi' MODULES='$modules' '$repo/scripts/guest/rootfs-modules.sh' \"\$1\"" \
  --customize-hook='rm -rf "$1/usr/share/doc"/* "$1/usr/share/man"/* "$1/usr/share/locale"/* "$1/var/cache/apt"/*.bin "$1/var/lib/apt/lists"/*' \
  bookworm "$out/rootfs.tar.partial" http://deb.debian.org/debian
# hooks-end
mv "$out/rootfs.tar.partial" "$out/rootfs.tar"
printf '{"packages":"%s","modules":"%s","abi":"%s","buildSeconds":%d,"tarBytes":%d}\n' \
  "$packages" "$modules" "$abi" "$(( $(date +%s) - start ))" "$(stat -c %s "$out/rootfs.tar")" > "$out/build.json"
echo "$out/rootfs.tar"
