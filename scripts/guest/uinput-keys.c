/*
 * uinput-keys: a keypad made by the kernel's uinput (/dev/uinput), for the evdev keypad's guest
 * test (tests/guest/evdev-keypad.test.ts). The device it creates is a real input device: evdev
 * gives it /dev/input/eventN and /sys/class/input/eventN/device/name, queues its events per reader
 * (and drops them with SYN_DROPPED when a reader's queue overflows), answers EVIOCGKEY and
 * EVIOCGRAB. Compiled on the host with gcc by the test; run in the guest.
 *
 *   uinput-keys NAME       creates the device, prints "ready", then reads commands from stdin:
 *     down CODE | up CODE            one key event and SYN_REPORT
 *     tap CODE HOLD_US DELAY_US      waits DELAY_US, down, waits HOLD_US, up
 *     flood CODE N                   N presses and releases at once (N <= 10000)
 *     mark PATH                      creates the file PATH (a blocked event loop can poll for it)
 *     quit                           destroys the device (readers get ENODEV) and exits
 *   Each command is answered "ok" (or "err ..."), after it is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/uinput.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FLOOD_MAX 10000

static int fd = -1;

static void emit(int type, int code, int value) {
  struct input_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.code = code;
  ev.value = value;
  if (write(fd, &ev, sizeof ev) != sizeof ev) { perror("write"); exit(1); }
}

static void key(int code, int value) {
  emit(EV_KEY, code, value);
  emit(EV_SYN, SYN_REPORT, 0);
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: uinput-keys NAME\n"); return 2; }
  fd = open("/dev/uinput", O_WRONLY | O_NONBLOCK);
  if (fd < 0) { perror("/dev/uinput"); return 1; }
  if (ioctl(fd, UI_SET_EVBIT, EV_KEY) < 0) { perror("UI_SET_EVBIT"); return 1; }
  for (int c = 1; c < 0x2ff; c++) ioctl(fd, UI_SET_KEYBIT, c);
  struct uinput_setup setup;
  memset(&setup, 0, sizeof setup);
  setup.id.bustype = BUS_VIRTUAL;
  setup.id.vendor = 0x1209;
  setup.id.product = 0x0001;
  snprintf(setup.name, UINPUT_MAX_NAME_SIZE, "%s", argv[1]);
  if (ioctl(fd, UI_DEV_SETUP, &setup) < 0 || ioctl(fd, UI_DEV_CREATE) < 0) { perror("UI_DEV_CREATE"); return 1; }
  printf("ready\n");
  fflush(stdout);
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32], arg[400];
    long a = 0, b = 0, c = 0;
    arg[0] = 0;
    int n = sscanf(line, "%31s %ld %ld %ld", cmd, &a, &b, &c);
    if (n < 1) continue;
    if (strcmp(cmd, "down") == 0 && n == 2) key((int)a, 1);
    else if (strcmp(cmd, "up") == 0 && n == 2) key((int)a, 0);
    else if (strcmp(cmd, "tap") == 0 && n == 4) { usleep((useconds_t)c); key((int)a, 1); usleep((useconds_t)b); key((int)a, 0); }
    else if (strcmp(cmd, "flood") == 0 && n == 3 && b > 0 && b <= FLOOD_MAX) { for (long i = 0; i < b; i++) { key((int)a, 1); key((int)a, 0); } }
    else if (strcmp(cmd, "mark") == 0 && sscanf(line, "%31s %399s", cmd, arg) == 2) { FILE *f = fopen(arg, "w"); if (f) fclose(f); }
    else if (strcmp(cmd, "quit") == 0) { ioctl(fd, UI_DEV_DESTROY); close(fd); printf("ok\n"); return 0; }
    else { printf("err %s", line); fflush(stdout); continue; }
    printf("ok\n");
    fflush(stdout);
  }
  ioctl(fd, UI_DEV_DESTROY);
  return 0;
}
