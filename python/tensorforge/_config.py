"""Build and runtime facts: show_config() and the thread-count controls."""
import platform
import sys

from . import _C
from ._version import __version__


def get_num_threads():
    """Threads our CPU kernels use (TENSORFORGE_NUM_THREADS, default: the machine's cores)."""
    return _C.get_num_threads()


def set_num_threads(n):
    """Sets the threads our CPU kernels use; like torch.set_num_threads."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    _C.set_num_threads(n)


def config():
    """The facts show_config() prints, as a dict.

    ``version`` is the package's (python/tensorforge/_version.py, the one place it is set);
    ``extension_version`` is the one compiled into tensorforge._C, equal to it unless a stale
    build is on the path. ``cuda_toolkit`` and ``cuda_architectures`` are those the CUDA kernels
    were compiled for ("" in a build without CUDA).
    """
    build = _C.build_info()
    return {
        "version": __version__,
        "extension_version": build["version"],
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "compiler": build["compiler"],
        "simd_compiled": list(_C.compiled_isas()),
        "simd_best": _C.best_isa(),
        "simd_active": _C.active_isa(),
        "num_threads": _C.get_num_threads(),
        "cuda_built": _C.cuda_is_built(),
        "cuda_build": _C.cuda_build_info(),
        "cuda_toolkit": build["cuda_toolkit"],
        "cuda_architectures": build["cuda_architectures"].split(),
        "cuda_devices": _C.cuda_device_count(),
        "cuda_tensor_cores": _C.cuda_tensor_core_path(),
    }


def show_config(file=None):
    """Prints version, compiler, SIMD paths, threads and CUDA status."""
    c = config()
    lines = [f"tensorforge {c['version']} (Python {c['python']}, {c['platform']})"]
    if c["extension_version"] != c["version"]:
        lines.append(f"  WARNING: the compiled extension is version {c['extension_version']}: a stale build?")
    lines += [
        f"  compiler:      {c['compiler']}",
        f"  SIMD compiled: {', '.join(c['simd_compiled'])}",
        f"  SIMD in use:   {c['simd_active']} (best this CPU supports: {c['simd_best']})",
        f"  threads:       {c['num_threads']}",
        f"  CUDA kernels:  {'built (' + c['cuda_build'] + ')' if c['cuda_built'] else c['cuda_build']}",
    ]
    if c["cuda_built"]:
        lines.append(f"  CUDA toolkit:  {c['cuda_toolkit']}, architectures {' '.join(c['cuda_architectures'])}")
    lines.append(f"  GPUs visible:  {c['cuda_devices']}")
    if c["cuda_built"]:
        lines.append(f"  tensor cores:  {c['cuda_tensor_cores']} (tf32 / bf16 matmul on the current GPU)")
    print("\n".join(lines), file=file or sys.stdout)
