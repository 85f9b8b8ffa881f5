#!/usr/bin/env python3
"""Checks that a build keeps AVX code inside the per-ISA units, so the wheel runs on any x86-64.

Usage: check_simd_objects.py BUILD_DIR

1. Every object of the CPU library that is not a *_avx2 / *_avx512 unit disassembles to
   baseline x86-64 (SSE2) only: no VEX/EVEX instruction (v-prefixed mnemonics) and no ymm/zmm
   register. Such code would crash with SIGILL on a CPU without AVX.
2. The ISA units define no weak (COMDAT) symbols: an inline function or template instantiated in
   an AVX unit and also in a baseline unit is merged by the linker into one copy, which may be
   the AVX one (the ODR leak DESIGN.md warns about).
Objects holding only LTO bytecode (the pybind11 module's own) carry no machine code to check and
are skipped; they contain no intrinsics. Exits 1 with the offending objects listed.
"""
import re
import subprocess
import sys
from pathlib import Path

ISA_UNIT = re.compile(r"_(avx2|avx512)\.(cpp|cc)\.o$")
VEX = re.compile(r"^\s*[0-9a-f]+:\s+(v[a-z0-9]+)\b|%[yz]mm\d+")


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def is_lto_only(obj):
    sections = run("objdump", "-h", str(obj))
    return ".gnu.lto_" in sections and " .text " not in sections.replace("\t", " ")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = Path(sys.argv[1])
    objects = sorted(p for p in build.rglob("*.o") if "tensorforge_cpu.dir" in p.parts)
    if not objects:
        sys.exit(f"check_simd_objects: no CPU objects under {build}")
    isa_units = [o for o in objects if ISA_UNIT.search(o.name)]
    baseline = [o for o in objects if o not in isa_units]
    bad = []
    checked = 0
    for obj in baseline:
        if is_lto_only(obj):
            continue
        checked += 1
        hits = [m.group(1) or m.group(0) for line in run("objdump", "-d", "--no-show-raw-insn", str(obj)).splitlines()
                if (m := VEX.search(line))]
        if hits:
            bad.append(f"{obj}: {len(hits)} AVX instructions in a baseline unit, e.g. {hits[:3]}")
    for obj in isa_units:
        weak = [line.split(None, 2)[-1] for line in run("nm", "-C", str(obj)).splitlines()
                if re.match(r"^[0-9a-f]*\s+[WVu]\s", line) and " DW.ref.__gxx_personality" not in line]
        if weak:
            bad.append(f"{obj}: weak symbols the linker may merge with baseline copies: {weak[:5]}")
    if bad:
        print("check_simd_objects: FAILED\n  " + "\n  ".join(bad))
        return 1
    print(f"check_simd_objects: {checked} baseline objects have no AVX instructions; "
          f"{len(isa_units)} ISA units define no weak symbols")
    return 0


if __name__ == "__main__":
    sys.exit(main())
