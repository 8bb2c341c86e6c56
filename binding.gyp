{
  "targets": [
    {
      "target_name": "gpio_v2",
      "sources": ["native/gpio_v2.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
