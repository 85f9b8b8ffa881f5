"""What can be checked from the installed package: version in one place, build facts, ELF deps.

scripts/test.sh sets TENSORFORGE_EXPECT_INSTALLED_WHEEL=1 when it runs the suite against the
wheel it built and installed into a fresh venv; then the import must come from that venv.
"""
import importlib.metadata as md
import io
import json
import os
import re
import struct
import sys
import sysconfig
from pathlib import Path

import pytest

import tensorforge
from tensorforge import _C

REPO = Path(__file__).resolve().parents[1]
EXPECT_WHEEL = os.environ.get("TENSORFORGE_EXPECT_INSTALLED_WHEEL") == "1"
# The C/C++ runtime every manylinux system has; anything else in a wheel is a packaging bug.
SYSTEM_LIBS = re.compile(r"^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so\.\d+$"
                         r"|^ld-linux(-x86-64|-aarch64)?\.so\.\d+$")


def _distribution():
    try:
        return md.distribution("tensorforge")
    except md.PackageNotFoundError:
        pytest.skip("tensorforge is not installed as a distribution (PYTHONPATH developer build)")


def _is_editable(dist):
    text = dist.read_text("direct_url.json")
    return bool(text) and json.loads(text).get("dir_info", {}).get("editable", False)


def elf_needed(path):
    """DT_NEEDED entries of an ELF shared object (64-bit), read with the standard library alone."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        pytest.skip(f"{path} is not an ELF file")
    if data[4] != 2:
        pytest.skip("32-bit ELF: not checked")
    end = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "Q", data, 0x28)
    shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    sections = [struct.unpack_from(end + "IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynamic = [s for s in sections if s[1] == 6]  # SHT_DYNAMIC
    if not dynamic:
        return []
    _, _, _, _, dyn_off, dyn_size, link, _, _, _ = dynamic[0]
    strtab_off = sections[link][4]
    needed = []
    for off in range(dyn_off, dyn_off + dyn_size, 16):
        tag, val = struct.unpack_from(end + "qQ", data, off)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            name = data[strtab_off + val:data.index(b"\0", strtab_off + val)]
            needed.append(name.decode())
    return needed


def test_version_is_pep440():
    assert re.fullmatch(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[\w.]+)?", tensorforge.__version__)


def test_version_matches_the_installed_distribution_metadata():
    assert _distribution().version == tensorforge.__version__


def test_extension_compiled_from_the_same_version():
    assert _C.build_info()["version"] == tensorforge.__version__
    assert tensorforge.config()["extension_version"] == tensorforge.__version__


def test_metadata_declares_extras():
    meta = _distribution().metadata
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"test", "cuda"} <= extras
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("cupy-cuda13x") and 'extra == "cuda"' in r for r in requires), requires
    assert any(r.startswith("numpy") and "extra" not in r for r in requires), requires


def test_show_config_reports_version_compiler_and_cuda_build():
    c = tensorforge.config()
    for key in ("version", "extension_version", "compiler", "simd_compiled", "simd_active",
                "cuda_built", "cuda_build", "cuda_toolkit", "cuda_architectures", "cuda_devices", "cuda_tensor_cores"):
        assert key in c, key
    assert c["compiler"] and c["compiler"] != "unknown"
    if c["cuda_built"]:
        assert re.fullmatch(r"\d+\.\d+(\.\d+)*", c["cuda_toolkit"]), c["cuda_toolkit"]
        assert c["cuda_architectures"] and all(re.fullmatch(r"\d+[af]?(-real|-virtual)?", a) for a in c["cuda_architectures"])
    else:
        assert c["cuda_toolkit"] == "" and c["cuda_architectures"] == []
    out = io.StringIO()
    tensorforge.show_config(file=out)
    text = out.getvalue()
    assert f"tensorforge {tensorforge.__version__} " in text and c["compiler"] in text
    assert "WARNING" not in text
    if c["cuda_built"]:
        assert f"CUDA toolkit:  {c['cuda_toolkit']}" in text
        assert f"tensor cores:  {c['cuda_tensor_cores']}" in text


def test_extension_links_no_openmp_and_no_shared_cuda_runtime():
    deps = elf_needed(_C.__file__)
    assert not [d for d in deps if d.startswith(("libgomp", "libomp", "libiomp", "libcudart", "libcublas"))], deps
    if EXPECT_WHEEL:
        assert all(SYSTEM_LIBS.match(d) for d in deps), deps


@pytest.mark.skipif(not EXPECT_WHEEL, reason="only when scripts/test.sh runs the suite against the installed wheel")
def test_imported_from_the_installed_wheel_not_the_sources():
    dist = _distribution()
    assert not _is_editable(dist)
    pkg = Path(tensorforge.__file__).resolve().parent
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert pkg.parent in site, (pkg, site)
    assert REPO not in pkg.parents
    assert Path(sys.prefix).resolve() in pkg.parents
    files = [str(f) for f in dist.files]
    assert any(re.fullmatch(r"tensorforge/_C\..*\.so", f) for f in files), files
    # The wheel carries the package and its metadata, nothing else (no tests, sources, libs).
    stray = [f for f in files if not f.startswith(("tensorforge/", "tensorforge-")) and ".dist-info/" not in f
             and not f.startswith("..")]
    assert not stray, stray
