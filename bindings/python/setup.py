"""Build script of the ringlink Python binding (distribution ``ringlink-py``, import ``ringlink``).

The extension ``ringlink._ringlink`` is compiled against ``ffi/include/ringlink.h`` and linked
statically with ``libringlink.a`` (``-lpthread -ldl -lm -Wl,--exclude-libs,ALL``, no rpath), so
the installed package needs nothing at run time.

Where the library comes from:

* default: the ringlink workspace this directory lives in (found by walking up from here to the
  ``Cargo.toml`` that has ``ffi/include/ringlink.h`` next to it) is built with
  ``cargo build --release -p ringlink-ffi``; the target directory is taken from
  ``cargo metadata``, and ``ffi/dist.sh`` turns cargo's archive into the distributable one
  (one object, only ``rl_*`` global), as ``ffi/install.sh`` does;
* ``RINGLINK_LIB_DIR=DIR``: link ``DIR/libringlink.a`` and skip cargo. The header is the
  workspace's, else ``RINGLINK_INCLUDE_DIR`` or ``DIR/../include``.

Building from an sdist is refused: the Rust sources are not part of this package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent


def find_workspace() -> Path | None:
    for parent in HERE.parents:
        if (parent / "Cargo.toml").is_file() and (parent / "ffi" / "include" / "ringlink.h").is_file():
            return parent
    return None


def die(msg: str) -> None:
    sys.stderr.write("ringlink-py: " + msg + "\n")
    raise SystemExit(1)


class BuildExt(build_ext):
    def run(self) -> None:
        ws = find_workspace()
        lib_dir_env = os.environ.get("RINGLINK_LIB_DIR")
        if (HERE / "PKG-INFO").exists() and ws is None and not lib_dir_env:
            die(
                "building from an sdist is not supported: install from a ringlink checkout "
                "with `pip install ./bindings/python` (or set RINGLINK_LIB_DIR)"
            )
        if lib_dir_env:
            lib = Path(lib_dir_env).resolve() / "libringlink.a"
            if not lib.is_file():
                die(f"RINGLINK_LIB_DIR={lib_dir_env}: no libringlink.a there")
            if ws is not None:
                include = ws / "ffi" / "include"
            else:
                include = Path(os.environ.get("RINGLINK_INCLUDE_DIR", Path(lib_dir_env) / ".." / "include")).resolve()
        else:
            if ws is None:
                die(
                    "no ringlink workspace above " + str(HERE) + " (this package builds only from a "
                    "ringlink checkout: `pip install ./bindings/python`; or set RINGLINK_LIB_DIR)"
                )
            include = ws / "ffi" / "include"
            lib = self.build_ringlink(ws)
        if not (include / "ringlink.h").is_file():
            die(f"ringlink.h not found in {include}")
        for ext in self.extensions:
            ext.include_dirs.insert(0, str(include))
            ext.extra_objects.append(str(lib))
            ext.depends.append(str(include / "ringlink.h"))
        self.write_build_info(ws, lib)
        super().run()

    def build_ringlink(self, ws: Path) -> Path:
        cargo = os.environ.get("CARGO", "cargo")
        if shutil.which(cargo) is None:
            die("cargo not found (needed to build libringlink.a; or set RINGLINK_LIB_DIR)")
        manifest = str(ws / "Cargo.toml")
        self.announce("ringlink-py: cargo build --release -p ringlink-ffi", level=2)
        subprocess.run([cargo, "build", "--release", "-p", "ringlink-ffi", "--manifest-path", manifest], check=True)
        meta = subprocess.run(
            [cargo, "metadata", "--format-version", "1", "--no-deps", "--manifest-path", manifest],
            check=True,
            stdout=subprocess.PIPE,
        )
        target = Path(json.loads(meta.stdout)["target_directory"])
        raw = target / "release" / "libringlink.a"
        if not raw.is_file():
            die(f"cargo did not produce {raw}")
        out = Path(self.build_temp).resolve() / "ringlink-dist" / "libringlink.a"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["bash", str(ws / "ffi" / "dist.sh"), str(raw), str(out)], check=True)
        return out

    def write_build_info(self, ws: Path | None, lib: Path) -> None:
        text = (
            '"""Written by setup.py at build time."""\n'
            f"WORKSPACE = {str(ws) if ws else None!r}\n"
            f"LIBRARY = {str(lib)!r}\n"
        )
        dests = [Path(self.build_lib) / "ringlink"]
        if self.inplace:
            dests = [HERE / "src" / "ringlink"]
        for d in dests:
            d.mkdir(parents=True, exist_ok=True)
            (d / "_build_info.py").write_text(text)


class NoSdist(sdist):
    def run(self) -> None:
        die("sdists are not supported: the package builds only inside a ringlink checkout")


CSRC = [
    "module.c", "context.c", "socket.c", "sockwait.c", "options.c", "fastpath.c", "poll.c", "services.c", "svcbuf.c",
    "gateway.c", "spot.c",
]

ext = Extension(
    "ringlink._ringlink",
    sources=[f"csrc/{f}" for f in CSRC],
    depends=["csrc/rlpy.h"],
    libraries=["pthread", "dl", "m"],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden"],
    extra_link_args=["-Wl,--exclude-libs,ALL"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExt, "sdist": NoSdist})
