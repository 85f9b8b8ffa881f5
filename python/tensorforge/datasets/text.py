"""The King James Bible as one string (4.4M characters, 31102 verses): a real corpus for character-level models.

bible_kjv(root=None, download=True, references=True) returns the text, one verse a line ("Ge1:1 In the
beginning ..."); references=False drops the title line and the verse references. The text comes from the
Debian package bible-kjv-text, whose /usr/lib/bible.data holds it in 64 KiB windows, each compressed with
Unix `compress` (LZW); we decode that file in Python (no install of the `bible` program needed). root: a folder
holding bible_kjv.txt (the plain text) or bible.data; without it the decoded text is cached, made on first use
from /usr/lib/bible.data when installed, else from `apt-get download bible-kjv-text`.
"""
import re
import struct
from pathlib import Path

from . import _fetch
from ._cache import DatasetCorruptError, DatasetNotFoundError, FetchError, cached, data_home, in_root, sha256_bytes
from ._lzw import decompress

TEXT_NAME, DATA_NAME = "bible_kjv.txt", "bible.data"
FILES = {TEXT_NAME: (4404475, "e53aaf0af1e58f259e35d0d9f7ca1bbe154fd77bb95471279b37b34d3c397a98")}
DATA_SHA256 = "6c746c2acc8a34bfded980883ff1701a5d68934a1c853ebf88a07b978fe0ae0e"
DEB, DEB_MEMBER = "bible-kjv-text", "usr/lib/bible.data"
SYSTEM_DATA = Path("/") / DEB_MEMBER
_MAGIC = b"EC02Compressed Data File"
_REFERENCE = re.compile(r"^\S+?\d+:\d+ ", re.M)


def decode_bible_data(blob, what=DATA_NAME):
    """The text in a bible.data file: magic, window size and count (big-endian uint32 at 0x54 and 0x58), the
    count + 1 window offsets (the last is the file size), the .Z header, then one LZW stream per window."""
    if not blob.startswith(_MAGIC) or len(blob) < 0x5C:
        raise DatasetCorruptError(f"{what}: not a bible-kjv-text data file (bad magic)")
    window, count = struct.unpack(">II", blob[0x54:0x5C])
    table_end = 0x5C + 4 * (count + 1)
    offsets = struct.unpack(f">{count + 1}I", blob[0x5C:table_end]) if len(blob) >= table_end else ()
    if not offsets or offsets[-1] != len(blob) or list(offsets) != sorted(offsets) or offsets[0] < table_end + 3:
        raise DatasetCorruptError(f"{what}: window table does not match the file size (truncated or corrupt)")
    z_header = blob[offsets[0] - 3:offsets[0]]
    parts = []
    for i in range(count):
        try:
            part = decompress(z_header + blob[offsets[i]:offsets[i + 1]])
        except ValueError as e:
            raise DatasetCorruptError(f"{what}: window {i}: {e}") from None
        if len(part) != window and i < count - 1:
            raise DatasetCorruptError(f"{what}: window {i} decodes to {len(part)} bytes, expected {window}")
        parts.append(part)
    return b"".join(parts)


def _fetch_text(names):
    if SYSTEM_DATA.is_file():
        blob = SYSTEM_DATA.read_bytes()
    else:
        blob = _fetch.from_deb(DEB, [DEB_MEMBER])[DEB_MEMBER]
    if sha256_bytes(blob) != DATA_SHA256:
        raise FetchError(f"{DEB_MEMBER} has sha256 {sha256_bytes(blob)}, expected {DATA_SHA256}")
    return {TEXT_NAME: decode_bible_data(blob)}


def _how_to():
    return ("To get bible_kjv: run `python -m tensorforge.datasets fetch text` on a machine that reaches Debian's "
            f"package registry (`apt-get download {DEB}`, file /{DEB_MEMBER} in the .deb), or pass root=<folder> "
            f"holding {TEXT_NAME} or {DATA_NAME} (or copy {TEXT_NAME} into {data_home() / 'bible_kjv'}).")


def _read_root(root):
    try:
        path = in_root(root, [TEXT_NAME, DATA_NAME])
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"bible_kjv: {e}.\n{_how_to()}") from None
    blob = path.read_bytes()
    return decode_bible_data(blob, str(path)) if path.name == DATA_NAME else blob


def bible_kjv(root=None, download=True, references=True):
    """The King James Bible as a str; see the module docstring."""
    if root is None:
        blob = cached("bible_kjv", FILES, _fetch_text, download, _how_to())[TEXT_NAME].read_bytes()
    else:
        blob = _read_root(root)
    try:
        text = blob.decode("ascii")
    except UnicodeDecodeError as e:
        raise DatasetCorruptError(f"bible_kjv: the text is not plain ASCII ({e})") from None
    if references:
        return text
    return _REFERENCE.sub("", text.split("\n", 1)[1] if text.startswith("Holy Bible") else text)
