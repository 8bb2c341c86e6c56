#!/usr/bin/env bash
# Builds the kernel's gpio-sim driver out of tree for Debian 12's amd64 kernel and caches the
# module. Debian does not build gpio-sim (CONFIG_GPIO_SIM and CONFIG_IRQ_SIM are off), but the
# kernel's GPIO character device is built in, so a module made from the kernel's own sources gives
# guests a real GPIO chip whose lines tests drive through sysfs.
#
#   scripts/guest/fetch-kernel.sh --headers      (called by this script)
#   scripts/guest/gpio-sim/build.sh              prints the path of gpio-sim.ko on stdout
#
# Output: $CACHE/gpio-sim/<abi>/<patch level>/gpio-sim.ko  (CACHE = $POS_GUEST_CACHE or .cache/guest).
# Idempotent (a built module is reused) and locked (flock): guest tests of several engineers may
# call it at the same time.
#
# How it is made: drivers/gpio/gpio-sim.c and drivers/gpio/gpiolib.h from Debian's
# linux-source-6.1 package (apt-get download, only those files unpacked) plus kernel/irq/irq_sim.c
# (IRQ_SIM is off too) linked into one module, gpio-sim-y := gpio-sim-main.o irq_sim.o. irq_sim.c
# calls handle_simple_irq(irq_to_desc(irqnum)), and irq_to_desc is not exported to modules, so it
# is replaced by generic_handle_irq(irqnum), which is. One change of behaviour, for the tests
# (value-notify.patch beside this script): a consumer driving a new output level wakes poll()
# waiters on that line's sysfs `value` (POLLPRI, as the legacy GPIO sysfs does), so the keypad
# agent follows the keypad's rows on events instead of polling (upstream gpio-sim has no such
# notification). Built with kbuild against the
# linux-headers-<abi> package (make -C <headers> M=<dir> modules).
#
# Loading it in a guest (the kernel's own configfs is a module in Debian's kernel):
#   insmod <modules>/kernel/fs/configfs/configfs.ko
#   insmod gpio-sim.ko
#   mount -t configfs none /sys/kernel/config
#   mkdir /sys/kernel/config/gpio-sim/chip0            # a device ("chip0" is any name)
#   mkdir /sys/kernel/config/gpio-sim/chip0/bank0      # one gpiochip
#   echo 16 > /sys/kernel/config/gpio-sim/chip0/bank0/num_lines     # N lines
#   echo pos-sim > /sys/kernel/config/gpio-sim/chip0/bank0/label    # optional
#   echo 1 > /sys/kernel/config/gpio-sim/chip0/live                 # creates /dev/gpiochipX
#   cat /sys/kernel/config/gpio-sim/chip0/bank0/chip_name           # "gpiochipX"
# Each line then has /sys/devices/platform/<dev_name>/<chip_name>/sim_gpio<N>/{value,pull}
# (dev_name from /sys/kernel/config/gpio-sim/chip0/dev_name): `value` reads what a consumer drives
# on an output, `pull` (pull-up / pull-down) sets what an input reads.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
cache="${POS_GUEST_CACHE:-$repo/.cache/guest}"
abi="$("$repo/scripts/guest/fetch-kernel.sh" --headers)"
headers="$cache/kernel/$abi/root/usr/src/linux-headers-$abi"
# The patch level names the folder: a module cached before a change of the patches is not reused.
out="$cache/gpio-sim/$abi/notify-1"
ko="$out/gpio-sim.ko"
mkdir -p "$cache/gpio-sim" "$out"
exec 9>"$cache/gpio-sim/.build.lock"
flock 9
if [ -f "$ko" ]; then echo "$ko"; exit 0; fi
src="$cache/gpio-sim/src"
if [ ! -f "$src/.done" ]; then
  rm -rf "$src" && mkdir -p "$src/debs"
  (cd "$src/debs" && apt-get download linux-source-6.1 >&2)
  dpkg-deb --fsys-tarfile "$src"/debs/linux-source-6.1_*.deb | tar -x -C "$src" ./usr/src/linux-source-6.1.tar.xz
  tar -xJf "$src/usr/src/linux-source-6.1.tar.xz" -C "$src" --strip-components=1 \
    linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
  rm -rf "$src/debs" "$src/usr"
  touch "$src/.done"
fi
work="$out/build"
rm -rf "$work" && mkdir -p "$work"
cp "$src/drivers/gpio/gpio-sim.c" "$work/gpio-sim-main.c"
patch --quiet --no-backup-if-mismatch "$work/gpio-sim-main.c" < "$repo/scripts/guest/gpio-sim/value-notify.patch" >&2
cp "$src/drivers/gpio/gpiolib.h" "$work/gpiolib.h"
sed 's/handle_simple_irq(irq_to_desc(irqnum))/generic_handle_irq(irqnum)/' "$src/kernel/irq/irq_sim.c" > "$work/irq_sim.c"
grep -q 'generic_handle_irq(irqnum)' "$work/irq_sim.c" || { echo "gpio-sim: irq_sim.c patch did not apply" >&2; exit 1; }
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > "$work/Kbuild"
# The headers' own Makefile includes /usr/src/linux-headers-<abi>-common/Makefile by an absolute
# path (the package expects to be installed); the unpacked copy's common Makefile is named directly.
common="$cache/kernel/$abi/root/usr/src/linux-headers-${abi%-amd64}-common"
make -C "$headers" -f "$common/Makefile" M="$work" modules >&2
cp "$work/gpio-sim.ko" "$ko.tmp" && mv "$ko.tmp" "$ko"
echo "$ko"
