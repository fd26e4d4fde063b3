{
  "targets": [
    {
      "target_name": "ringlink",
      "sources": [
        "src/module.c",
        "src/socket.c",
        "src/wait.c",
        "src/io.c",
        "src/batch.c",
        "src/monitor.c",
        "src/services.c",
        "src/services_reg.c",
        "src/services_io.c",
        "src/services_gw.c",
        "src/services_spot.c"
      ],
      "include_dirs": ["<(ringlink_include)"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "cflags!": ["-fno-exceptions"],
      "libraries": [
        "<(ringlink_lib)",
        "-lpthread",
        "-ldl",
        "-lm",
        "-Wl,--exclude-libs,ALL"
      ]
    }
  ],
  "variables": {
    "ringlink_include": "<!(node -p \"process.env.RINGLINK_INCLUDE || require('path').resolve('../../ffi/include')\")",
    "ringlink_lib": "<!(node -p \"process.env.RINGLINK_LIB || ''\")"
  }
}
