#!/usr/bin/env python3
"""Group the code and data of a wasm-ld link map by Rust crate.

Usage: size_breakdown.py LINK_MAP [ROWS]

LINK_MAP is the file written by `wasm-ld --Map` (see bench/size.sh). Symbol names are demangled
with `c++filt` from GNU binutils when it is installed. A generic function is counted in the crate
that defines it, whichever crate instantiated it, and `<Type as Trait>::method` is counted in the
crate of `Type`, or in the crate of `Trait` when `Type` comes from core, alloc or std.
"""

import collections
import re
import shutil
import subprocess
import sys

# Address, offset and size columns, then the name. Sections and data segments start at column 0
# of the name, input files at column 8 and symbols at column 16.
MAP_LINE = re.compile(r"^\s*(?:[0-9a-f]+|-)\s+[0-9a-f]+\s+([0-9a-f]+) (.*)$")
SYMBOL_INDENT = 16
STANDARD_CRATES = {"core", "alloc", "std"}
OTHER_CODE = "(C code: wasi-libc, dlmalloc, linker)"
ANONYMOUS_DATA = "(anonymous constants: strings, tables)"


def read_map(path):
    """Return the size of every section and the (section, size, name) of every CODE or DATA
    symbol."""
    sections = {}
    symbols = []
    section = None
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            match = MAP_LINE.match(line)
            if not match:
                continue
            size = int(match.group(1), 16)
            name = match.group(2)
            indent = len(name) - len(name.lstrip(" "))
            name = name.strip()
            if indent == 0:
                sections[name] = size
                # `.rodata`, `.data` and `.bss` are parts of the DATA section.
                if not name.startswith("."):
                    section = name
            elif indent >= SYMBOL_INDENT and section in ("CODE", "DATA"):
                symbols.append((section, size, name))
    return sections, symbols


def demangle(names):
    """Demangle Rust symbols with c++filt, or return them unchanged when it is missing."""
    if not names or shutil.which("c++filt") is None:
        return list(names)
    result = subprocess.run(
        ["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True
    )
    demangled = result.stdout.split("\n")
    return demangled[: len(names)]


def path_crate(path):
    """Return the crate at the start of a type or function path, without the v0 hash."""
    path = path.strip()
    path = re.sub(r"^(?:&|\*const |\*mut |mut |dyn |\[|\()+", "", path)
    path = re.sub(r"\[[0-9a-f]+\]", "", path)
    match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", path)
    return match.group(1) if match else None


def split_impl(name):
    """Split `<A as B>::rest` into A and B at the top nesting level, or return None."""
    if not name.startswith("<"):
        return None
    depth = 0
    for index, char in enumerate(name):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
            if depth == 0:
                inner = name[1:index]
                break
    else:
        return None
    depth = 0
    for index in range(len(inner)):
        char = inner[index]
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif depth == 0 and inner.startswith(" as ", index):
            return inner[:index], inner[index + 4 :]
    return inner, None


def crate_of(raw, demangled):
    if raw.startswith(".L") or raw.startswith(".rodata"):
        return ANONYMOUS_DATA
    if not (raw.startswith("_R") or raw.startswith("_ZN")):
        return OTHER_CODE
    parts = split_impl(demangled)
    if parts is None:
        return path_crate(demangled) or OTHER_CODE
    self_type, trait = parts
    crate = path_crate(self_type)
    if (crate is None or crate in STANDARD_CRATES) and trait is not None:
        crate = path_crate(trait) or crate
    return crate or OTHER_CODE


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    sections, symbols = read_map(sys.argv[1])
    names = demangle([name for _, _, name in symbols])

    by_crate = collections.Counter()
    for (section, size, raw), name in zip(symbols, names):
        by_crate[crate_of(raw, name)] += size
    attributed = sum(by_crate.values())
    code_and_data = sections.get("CODE", 0) + sections.get("DATA", 0)
    by_crate["(section headers and padding)"] += code_and_data - attributed

    print(f"core module sections: CODE {sections.get('CODE', 0)} B, DATA {sections.get('DATA', 0)} B")
    print()
    print(f"{'bytes':>9}  {'share':>6}  crate (CODE + DATA)")
    for crate, size in by_crate.most_common(rows):
        print(f"{size:>9}  {100 * size / code_and_data:>5.1f}%  {crate}")
    print()
    print(f"{'bytes':>9}  largest symbols")
    largest = sorted(zip(symbols, names), key=lambda item: -item[0][1])[:rows]
    for (section, size, _), name in largest:
        print(f"{size:>9}  {section} {re.sub(r'::h[0-9a-f]{16}$', '', name)[:110]}")


if __name__ == "__main__":
    main()
