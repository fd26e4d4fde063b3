#!/usr/bin/env bash
# Make the distributable static library from the one cargo builds:
#   ffi/dist.sh target/release/libringlink.a OUT/libringlink.a
#
# cargo's libringlink.a is the crate plus its whole Rust dependency graph (std, core,
# compiler_builtins, ...) as ~300 objects with every symbol global: rust_eh_personality,
# __rust_alloc, compiler builtins such as __udivti3, mangled std functions. A program that
# links it together with another Rust static library gets clashing definitions (or, worse,
# the other library's std bound to ours). This script turns it into one object in which only
# the rl_* API is global:
#   1. ld -r --whole-archive: partially link every member into one relocatable object;
#   2. drop the embedded LLVM bitcode (.llvmbc/.llvmcmd: nothing needs it, and binutils'
#      LLVM plugin aborts on it) and list the rl_* symbols it defines;
#   3. ld -r --gc-sections -u rl_...: keep only the sections the API reaches (without this,
#      programs would carry every unused std function unless linked with --gc-sections);
#   4. objcopy: make every global symbol except rl_* local, and turn COMDAT groups into plain
#      sections (a group keeps its signature name even with a local symbol, and the linker
#      would drop another library's DW.ref.rust_eh_personality group in favour of ours);
#   5. re-archive, and check that no global symbol but rl_* is defined.
# The result links with `cc prog.c libringlink.a -lpthread -ldl -lm` as before.
# Tools: LD, OBJCOPY, AR, NM from the environment, default ld, objcopy, ar, nm (binutils).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 INPUT.a OUTPUT.a" >&2
    exit 2
fi
in="$1"
out="$2"
ld="${LD:-ld}"
objcopy="${OBJCOPY:-objcopy}"
ar="${AR:-ar}"
nm="${NM:-nm}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$ld" -r --whole-archive "$in" -o "$tmp/all.o"
"$objcopy" -R .llvmbc -R .llvmcmd "$tmp/all.o"
mapfile -t api < <("$nm" -g --defined-only "$tmp/all.o" | awk '$3 ~ /^rl_/ { print $3 }')
if [ "${#api[@]}" -eq 0 ]; then
    echo "$0: no rl_* symbols in $in" >&2
    exit 1
fi
roots=()
for s in "${api[@]}"; do
    roots+=(-u "$s")
done
"$ld" -r --gc-sections "${roots[@]}" "$tmp/all.o" -o "$tmp/gc.o"
"$objcopy" -w --keep-global-symbol='rl_*' -R .group -R .llvm_addrsig "$tmp/gc.o" \
    "$tmp/ringlink.o"
mkdir -p "$(dirname "$out")"
rm -f "$out"
"$ar" rcsD "$out" "$tmp/ringlink.o"

leaked="$("$nm" -g --defined-only "$out" | awk 'NF == 3 && $3 !~ /^rl_/ { print $3 }')"
if [ -n "$leaked" ]; then
    echo "$0: global symbols other than rl_* in $out:" >&2
    echo "$leaked" >&2
    exit 1
fi
kept="$("$nm" -g --defined-only "$out" | awk 'NF == 3' | wc -l)"
if [ "$kept" -ne "${#api[@]}" ]; then
    echo "$0: $out defines $kept rl_* symbols, $in ${#api[@]}" >&2
    exit 1
fi
