#!/usr/bin/env python3
"""Checks the shared-library dependencies of every ELF file in a wheel.

Usage: check_wheel_deps.py WHEEL

Allowed: the C/C++ runtime that every manylinux system provides (libc, libm, libpthread, libdl,
librt, libstdc++, libgcc_s, the dynamic loader). Anything else fails, libgomp (we use our own
thread pool) and libcudart (the CUDA runtime is linked statically; libcuda comes from the driver
through dlopen at run time) in particular, and so does a library auditwheel had to graft into
the wheel. Prints each file's DT_NEEDED list and its ldd resolution.
"""
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ALLOWED = re.compile(r"^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so\.\d+$"
                     r"|^ld-linux(-x86-64|-aarch64)?\.so\.\d+$")


def needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bad = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(sys.argv[1]) as zf:
        names = [n for n in zf.namelist() if re.search(r"\.so(\.\d+)*$", n)]
        if not names:
            sys.exit("check_wheel_deps: no shared object in the wheel")
        for name in names:
            if ".libs/" in name:
                bad.append(f"{name}: grafted into the wheel by auditwheel")
            path = Path(zf.extract(name, tmp))
            deps = needed(path)
            print(f"{name}: NEEDED {', '.join(deps)}")
            ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
            print("  " + "\n  ".join(line.strip() for line in ldd.splitlines()))
            bad += [f"{name}: unexpected dependency {d}" for d in deps if not ALLOWED.match(d)]
    if bad:
        print("check_wheel_deps: FAILED\n  " + "\n  ".join(bad))
        return 1
    print("check_wheel_deps: only the C/C++ runtime (no libgomp, no libcudart, nothing grafted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
