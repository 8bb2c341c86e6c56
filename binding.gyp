{
  "targets": [
    {
      "target_name": "gpio_v2",
      "sources": ["native/gpio_v2.c", "native/evdev_input.c", "native/poll_watch.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "journal_seal",
      "sources": ["native/journal_seal.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "password_kdf",
      "sources": ["native/password_kdf.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "mapped_file",
      "sources": ["native/mapped_file.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "process_native",
      "sources": ["native/process_native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "mem_reclaim",
      "sources": ["native/mem_reclaim.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-cast-function-type"]
    }
  ]
}
