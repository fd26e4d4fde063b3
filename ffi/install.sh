#!/usr/bin/env bash
# Build the C library in release mode and install it under PREFIX (default /usr/local):
#   PREFIX/lib/libringlink.so.X.Y.Z (+ links libringlink.so.X, libringlink.so), PREFIX/lib/libringlink.a, PREFIX/include/ringlink.h,
#   PREFIX/lib/pkgconfig/ringlink.pc
# then: cc prog.c $(pkg-config --cflags --libs ringlink)
# (for a non-standard PREFIX set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig, and LD_LIBRARY_PATH or
# -Wl,-rpath,PREFIX/lib for the shared library; to link the static one instead, pass
# PREFIX/lib/libringlink.a plus `pkg-config --libs --static ringlink`'s -lpthread -ldl -lm).
# The installed libringlink.a is the distributable archive made by dist.sh (one object, only
# the rl_* symbols global), so it links next to other Rust static libraries.
# RINGLINK_WORKSPACE overrides the workspace to build from (default: this file's parent).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-${PREFIX:-/usr/local}}"
ws="${RINGLINK_WORKSPACE:-$(dirname "$here")}"
cargo build --release -p ringlink-ffi --manifest-path "$ws/Cargo.toml"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$ws/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
version="$(sed -n 's/^#define RL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$here/include/ringlink.h" | paste -sd.)"
"$here/dist.sh" "$target/release/libringlink.a" "$target/release/dist/libringlink.a"
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0644 "$target/release/dist/libringlink.a" "$prefix/lib/"
# The shared library under its full version, with the SONAME link programs load at run time
# (libringlink.so.0) and the development link the linker finds (-lringlink).
install -m 0755 "$target/release/libringlink.so" "$prefix/lib/libringlink.so.$version"
ln -sf "libringlink.so.$version" "$prefix/lib/libringlink.so.${version%%.*}"
ln -sf "libringlink.so.${version%%.*}" "$prefix/lib/libringlink.so"
install -m 0644 "$here/include/ringlink.h" "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/ringlink.pc.in" \
    > "$prefix/lib/pkgconfig/ringlink.pc"
echo "installed ringlink $version under $prefix"
