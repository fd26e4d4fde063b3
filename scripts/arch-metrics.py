#!/usr/bin/env python3
"""Architecture measures of the engine crate (issue 10): file sizes, function lengths, and
the module import graph with its cycles.

    python3 scripts/arch-metrics.py [--max-file 700] [--max-fn 120] [--check]

Function length counts lines from the `fn` line to its closing brace (brace matching that
skips strings, chars and comments well enough for rustfmt-formatted code). Imports are the
`crate::a::b` paths used in a module file, reduced to top-level modules (`runtime`, `socket`,
...); a cycle is a pair of top-level modules that import each other. Test files (`tests.rs`,
`testutil.rs`) are left out of the graph. --check exits 1 when a
limit is exceeded or a cycle exists."""
import argparse
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine", "src")


def rust_files():
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def strip(src):
    """Source with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"' or src.startswith('r"', i) or src.startswith('r#"', i) or src.startswith('b"', i):
            m = re.match(r'b?r(#*)"', src[i:])
            if m:
                end = '"' + m.group(1)
                j = src.find(end, i + len(m.group(0)))
                j = n if j < 0 else j + len(end)
            else:
                j = i + (2 if c == "b" else 1)
                while j < n and src[j] != '"':
                    j += 2 if src[j] == "\\" else 1
                j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            m = re.match(r"b?'(\\.[^']*|[^\\'])'", src[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    src = strip(open(path).read())
    lines = src.split("\n")
    res = []
    fn_re = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)")
    for i, l in enumerate(lines):
        m = fn_re.match(l)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not started and depth == 0:
                    break
            else:
                if started and depth == 0:
                    res.append((j - i + 1, m.group(6), i + 1))
                    break
                continue
            break
    return res


def top_module(path):
    rel = os.path.relpath(path, ROOT)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-file", type=int, default=700)
    ap.add_argument("--max-fn", type=int, default=120)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    bad = False
    sizes = sorted(((sum(1 for _ in open(p)), os.path.relpath(p, ROOT)) for p in rust_files()), reverse=True)
    print("largest files (lines):")
    for n, p in sizes[:8]:
        mark = "  OVER" if n > a.max_file else ""
        bad |= n > a.max_file
        print(f"  {n:5}  {p}{mark}")
    fns = sorted(((n, name, os.path.relpath(p, ROOT), line) for p in rust_files() for n, name, line in functions(p)), reverse=True)
    print("longest functions (lines):")
    for n, name, p, line in fns[:8]:
        mark = "  OVER" if n > a.max_fn else ""
        bad |= n > a.max_fn
        print(f"  {n:5}  {name}  {p}:{line}{mark}")
    graph = {}
    for p in rust_files():
        me = top_module(p)
        # Test code may use any layer; the graph is of the shipped code.
        if me in ("lib", "main") or os.path.basename(p) in ("tests.rs", "testutil.rs"):
            continue
        for m in re.finditer(r"crate::(\w+)", strip(open(p).read())):
            if m.group(1) != me:
                graph.setdefault(me, set()).add(m.group(1))
    cycles = sorted({tuple(sorted((x, y))) for x in graph for y in graph[x] if x in graph.get(y, ())})
    print("module imports:")
    for k in sorted(graph):
        print(f"  {k} -> {', '.join(sorted(graph[k]))}")
    print("cycles between top-level modules:", ", ".join(f"{x} <-> {y}" for x, y in cycles) or "none")
    bad |= bool(cycles)
    if a.check and bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
