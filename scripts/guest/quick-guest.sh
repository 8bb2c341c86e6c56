#!/usr/bin/env bash
# Builds the quick guest for kernel-driver tests and prints two lines: the kernel and the initramfs.
# Used by scripts/guest/quick-guest.ts (the launcher); run it by hand to prebuild.
#
# The guest is Debian 12's amd64 kernel (scripts/guest/fetch-kernel.sh) with a small initramfs:
# busybox (Debian's busybox-static), the kernel modules the bus tests need (virtio-pci and 9p to
# mount the host, configfs + gpio-sim from scripts/guest/gpio-sim/build.sh, i2c-dev, i2c-stub,
# evdev and uinput for input devices: /dev/input/eventN, /dev/uinput) and
# the /init below. There is no node and no project copy inside: /init mounts the HOST's root file
# system read-only over virtio-9p (QEMU's virtfs works under TCG) and runs each job chrooted into
# it, so the host's node, the repository and its node_modules appear in the guest at the same
# paths. The guest gets its own /proc, /sys, /dev, /tmp and /run (tmpfs) inside that chroot, and a
# second, writable 9p share at /tmp/qg for jobs and their results (see quick-guest.ts).
#
# Kernel command line options read by /init:
#   qg.gpio=N         make a gpio-sim chip with N lines (label "qg-sim")
#   qg.i2c=0x36,...   load i2c-stub with these chip addresses (then i2c-dev gives /dev/i2c-0)
#   qg.wifi=N         load mac80211_hwsim with N radios (wlan0..; QG_WIFI lists them, comma-separated)
#   qg.repo=PATH      the repository lives under /tmp or /run, which the guest covers with tmpfs:
#                     mount the 9p share "repo" there again (quick-guest.ts exports it)
# Jobs see QG_GPIO_CHIP, QG_GPIO_SYSFS, QG_I2C_BUS, QG_WIFI and QG_BUSYBOX (busybox, for i2cset and stty).
# Output: $CACHE/quick-guest/<abi>/initramfs-<hash>.cpio.gz (CACHE = $POS_GUEST_CACHE or
# .cache/guest). Idempotent (keyed by a hash of this script and gpio-sim.ko) and locked (flock).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${POS_GUEST_CACHE:-$repo/.cache/guest}"
abi="$("$repo/scripts/guest/fetch-kernel.sh")"
ko="$("$repo/scripts/guest/gpio-sim/build.sh")"
kroot="$cache/kernel/$abi/root"
mods="$kroot/lib/modules/$abi/kernel"
out="$cache/quick-guest/$abi"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
hash="$(cat "$0" "$ko" | sha256sum | cut -c1-16)"
img="$out/initramfs-$hash.cpio.gz"
if [ -f "$img" ]; then printf '%s\n%s\n' "$kroot/boot/vmlinuz-$abi" "$img"; exit 0; fi
bb="$out/busybox"
if [ ! -x "$bb/bin/busybox" ]; then
  rm -rf "$bb" && mkdir -p "$bb/debs"
  (cd "$bb/debs" && apt-get download busybox-static >&2)
  dpkg -x "$bb"/debs/busybox-static_*.deb "$bb"
fi
tree="$out/tree-$hash"
rm -rf "$tree" && mkdir -p "$tree"/{bin,proc,sys,dev,host,modules,tmp}
cp "$bb/bin/busybox" "$tree/bin/busybox"
# Load order matters: there is no modules.dep and no modprobe, only insmod.
order="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p configfs i2c-dev evdev uinput"
for m in $(find "$mods" -name 'virtio.ko' -o -name 'virtio_ring.ko' -o -name 'virtio_pci*.ko' -o -name 'netfs.ko' \
    -o -name 'fscache.ko' -o -name '9pnet.ko' -o -name '9pnet_virtio.ko' -o -name '9p.ko' -o -name 'configfs.ko' \
    -o -name 'i2c-dev.ko' -o -name 'i2c-stub.ko' -o -name 'evdev.ko' -o -name 'uinput.ko'); do cp "$m" "$tree/modules/"; done
# Wi-Fi radios for qg.wifi (mac80211_hwsim and what it needs, crypto for WPA2's CCMP and PMF).
wifi_order="rfkill cfg80211 libarc4 mac80211 ctr ccm gf128mul ghash-generic gcm cmac"
for m in $wifi_order mac80211_hwsim; do cp "$(find "$mods" -name "$m.ko" | head -1)" "$tree/modules/"; done
echo "$wifi_order" > "$tree/modules/wifi-order"
cp "$ko" "$tree/modules/gpio-sim.ko"
echo "$order" > "$tree/modules/order"
cat > "$tree/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "qg: insmod $m failed"; done
GPIO=; I2C=; WIFI=
REPO=
for a in $(cat /proc/cmdline); do case $a in qg.gpio=*) GPIO=${a#qg.gpio=};; qg.i2c=*) I2C=${a#qg.i2c=};; qg.repo=*) REPO=${a#qg.repo=};; qg.wifi=*) WIFI=${a#qg.wifi=};; esac; done
# The host's root, read-only; cache=loose because the host does not change it under a test
# (node and the compiled JS load much faster).
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || { echo "qg: no 9p host root"; poweroff -f; }
mount -t proc proc /host/proc; mount -t sysfs sys /host/sys; mount -t devtmpfs dev /host/dev
mount -t tmpfs tmp /host/tmp; mount -t tmpfs run /host/run
mkdir -p /host/tmp/qg; mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /host/tmp/qg || { echo "qg: no share"; poweroff -f; }
# A repository under /tmp or /run (a CI clone) is hidden by the tmpfs above: its own share, back in place.
if [ -n "$REPO" ]; then mkdir -p /host$REPO && mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 repo /host$REPO || { echo "qg: no repo share"; poweroff -f; }; fi
Q=/host/tmp/qg
mount -t configfs none /host/sys/kernel/config
env=$Q/guest.env
# busybox's i2cset/i2cget/stty for jobs (the host root may not have i2c-tools).
mkdir -p /host/run/qg && cp /bin/busybox /host/run/qg/busybox
echo "QG_BUSYBOX=/run/qg/busybox" > $env
if [ -n "$I2C" ]; then
  insmod /modules/i2c-stub.ko chip_addr=$I2C && echo "QG_I2C_BUS=$(ls /sys/class/i2c-dev | sed -n 's/i2c-//p' | head -1)" >> $env
fi
if [ -n "$WIFI" ]; then
  for m in $(cat /modules/wifi-order); do insmod /modules/$m.ko || echo "qg: insmod $m failed"; done
  insmod /modules/mac80211_hwsim.ko radios=$WIFI && echo "QG_WIFI=$(ls /sys/class/net | grep '^wlan' | tr '\n' ',' | sed 's/,$//')" >> $env
fi
if [ -n "$GPIO" ]; then
  insmod /modules/gpio-sim.ko
  c=/host/sys/kernel/config/gpio-sim/qg
  mkdir $c $c/bank0 && echo $GPIO > $c/bank0/num_lines && echo qg-sim > $c/bank0/label && echo 1 > $c/live
  chip=$(cat $c/bank0/chip_name); dev=$(cat $c/dev_name)
  echo "QG_GPIO_CHIP=$chip" >> $env
  echo "QG_GPIO_SYSFS=/sys/devices/platform/$dev/$chip" >> $env
fi
mkdir -p $Q/jobs $Q/out
echo ready > $Q/ready
# Jobs: the host drops jobs/<n>.sh (renamed into place, so complete); each runs in the background,
# chrooted into the host root, with the variables of guest.env; out/<n>.out, .err and then .rc.
while [ ! -e $Q/poweroff ]; do
  for j in $Q/jobs/*.sh; do
    [ -e "$j" ] || continue
    n=$(basename $j .sh); mv $j $Q/jobs/$n.run
    ( env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp $(cat $env) \
        chroot /host /bin/sh /tmp/qg/jobs/$n.run > $Q/out/$n.out 2> $Q/out/$n.err
      echo $? > $Q/out/$n.rc.tmp; mv $Q/out/$n.rc.tmp $Q/out/$n.rc ) &
  done
  usleep 20000
done
sync
poweroff -f
INIT
chmod +x "$tree/init"
(cd "$tree" && find . | "$bb/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$img.tmp") && mv "$img.tmp" "$img"
rm -rf "$tree"
printf '%s\n%s\n' "$kroot/boot/vmlinuz-$abi" "$img"
