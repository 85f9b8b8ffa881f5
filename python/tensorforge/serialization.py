"""Checkpoint files in the safetensors format: save/load of nested state dicts, save_file/load_file of flat ones.

Layout (safetensors): 8-byte little-endian header length, a JSON header mapping each tensor name to
{"dtype", "shape", "data_offsets"} plus "__metadata__" (string values only), then the raw
little-endian tensor bytes. save() records the nested structure (dicts with str or int keys, lists,
tuples, numbers, strings, None) in __metadata__["tensorforge.structure"] and a sha256 of the header
entries and data in __metadata__["tensorforge.sha256"]; load() verifies both before building anything.
Files are written atomically: a temp file in the same directory, fsync, os.replace, fsync of the directory.
"""
import hashlib
import json
import os
import struct
import tempfile

import numpy as np

from ._backend import device, device_of, to_device
from .tensor import Tensor, make

STRUCTURE_KEY = "tensorforge.structure"
CHECKSUM_KEY = "tensorforge.sha256"
_MAX_HEADER = 100 * 1024 * 1024

# safetensors dtype name -> (numpy dtype of the stored bytes, dtype of the loaded tensor); we write the first six,
# other writers' F16/BF16/I8/I16/U16/U32/U64 are widened on load to a dtype tensors hold
_ST_DTYPES = {"F64": (np.float64, np.float64), "F32": (np.float32, np.float32), "I64": (np.int64, np.int64),
              "I32": (np.int32, np.int32), "U8": (np.uint8, np.uint8), "BOOL": (np.bool_, np.bool_),
              "F16": (np.float16, np.float32), "BF16": (np.uint16, np.float32), "I8": (np.int8, np.int32),
              "I16": (np.int16, np.int32), "U16": (np.uint16, np.int32), "U32": (np.uint32, np.int64),
              "U64": (np.uint64, np.int64)}
_TO_ST = {np.dtype(src): name for name, (src, dst) in list(_ST_DTYPES.items())[:6]}


class CheckpointError(RuntimeError):
    """A checkpoint file that is truncated, corrupt or not in the safetensors format."""


# ---- nested structure <-> (JSON tree, named arrays) ------------------------------------------------------
def _flatten(obj, path, arrays):
    """JSON-able description of obj; every tensor (or numpy array) goes to `arrays` under a unique name."""
    if isinstance(obj, (Tensor, np.ndarray)):
        array = obj._data if isinstance(obj, Tensor) else obj
        on = device_of(array)
        if on.type != "cpu":
            array = array.get()  # a CUDA tensor is written from a host copy and remembers its device
        if array.dtype not in _TO_ST:
            raise TypeError(f"save: the array at '{path}' has dtype {array.dtype}, which tensors cannot hold")
        name, n = path or "tensor", 1
        while name in arrays:
            name, n = f"{path}#{n}", n + 1
        arrays[name] = array
        if on.type != "cpu":
            return {"tensor_on": [name, f"cuda:{on.index or 0}"]}
        return {"tensor": name} if isinstance(obj, Tensor) else {"ndarray": name}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: dict keys must be str or int; '{path}' has the key {key!r}")
            key = key if isinstance(key, str) else int(key)
            items.append([key, _flatten(value, f"{path}.{key}" if path else str(key), arrays)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_flatten(v, f"{path}.{i}" if path else str(i), arrays) for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot store a {type(obj).__name__} at '{path or '<root>'}'; checkpoints hold "
                    "tensors, numpy arrays, numbers, strings, None and dicts/lists/tuples of them")


def _unflatten(node, arrays, map_location=None):
    """The saved structure with its tensors; map_location None puts each tensor back on the device it was
    saved from, anything else on that device."""
    if not isinstance(node, dict):
        return node
    (kind, value), = node.items()
    if kind == "tensor":
        return make(_place(arrays[value], map_location))
    if kind == "tensor_on":
        name, saved_on = value
        return make(_place(arrays[name], saved_on if map_location is None else map_location))
    if kind == "ndarray":
        return arrays[value]
    if kind == "dict":
        return {key: _unflatten(v, arrays, map_location) for key, v in value}
    items = [_unflatten(v, arrays, map_location) for v in value]
    return items if kind == "list" else tuple(items)


# ---- writing -----------------------------------------------------------------------------------------
def _header_and_chunks(arrays):
    """(entries without metadata, list of byte views); tensors ordered by itemsize so data stays aligned."""
    entries, chunks, offset = {}, [], 0
    for name in sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k)):
        array = arrays[name]
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1).view(np.uint8)
        entries[name] = {"dtype": _TO_ST[array.dtype], "shape": list(array.shape),
                         "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    return entries, chunks


def _checksum(entries, structure, chunks):
    h = hashlib.sha256(json.dumps(entries, sort_keys=True, separators=(",", ":")).encode())
    h.update((structure or "").encode())
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def _encode_header(entries, metadata):
    header = dict(entries)
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8)  # pad so the data starts 8-byte aligned


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, parts):
    """Writes the byte chunks to `path` via a temp file + fsync + os.replace; the old file survives any failure."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # the permissions open() would give, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write(path, arrays, metadata, structure=None):
    """Writes the arrays with the user's metadata plus our checksum (and the structure, for save())."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str; got {key!r}: {type(value).__name__}")
    entries, chunks = _header_and_chunks(arrays)
    metadata = dict(metadata)
    if structure is not None:
        metadata[STRUCTURE_KEY] = structure
    metadata[CHECKSUM_KEY] = _checksum(entries, structure, chunks)
    header = _encode_header(entries, metadata)
    parts = [struct.pack("<Q", len(header)), header, *chunks]
    if hasattr(path, "write"):  # a binary file object, e.g. io.BytesIO: written in place
        for part in parts:
            path.write(part)
    else:
        atomic_write(path, parts)


def save(obj, f):
    """Saves a (nested) state dict to `f` in safetensors format: a path (written atomically) or a binary file.

    obj: tensors, numpy arrays, numbers, strings, None, and dicts (str or int keys) / lists / tuples of them,
    e.g. {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}."""
    arrays = {}
    structure = json.dumps(_flatten(obj, "", arrays), separators=(",", ":"))
    _write(f, arrays, {}, structure)


def save_file(tensors, filename, metadata=None):
    """Saves a flat {name: Tensor} dict as a plain safetensors file (readable by the safetensors package)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file expects a dict of name -> Tensor, got {type(tensors).__name__}")
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, Tensor):
            raise TypeError(f"save_file expects str keys and Tensor values; got {name!r}: {type(t).__name__}")
    arrays = {}
    for name, t in tensors.items():
        _flatten(t, name, arrays)
    _write(filename, arrays, metadata or {})


# ---- reading -----------------------------------------------------------------------------------------
def _contents(f):
    """(name for messages, bytearray of the contents) of a path or a binary file object."""
    if hasattr(f, "read"):
        return str(getattr(f, "name", "<file object>")), bytearray(f.read())
    path = os.fspath(f)
    with open(path, "rb") as fh:
        blob = bytearray(os.fstat(fh.fileno()).st_size)
        fh.readinto(blob)
    return path, blob


def _read(f):
    """(name, entries, metadata, data buffer) of a safetensors file, after checking sizes and offsets."""
    path, blob = _contents(f)
    if len(blob) < 8:
        raise CheckpointError(f"{path}: truncated or not a safetensors file ({len(blob)} bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > min(_MAX_HEADER, len(blob) - 8):
        raise CheckpointError(f"{path}: header length {n} does not fit in the file of {len(blob)} bytes "
                              "(truncated or not a safetensors file)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    end = 0
    for (begin, stop), name in sorted((_offsets(path, name, e), name) for name, e in header.items()):
        if begin != end:
            raise CheckpointError(f"{path}: tensor '{name}' starts at byte {begin}, expected {end} (corrupt header)")
        end = stop
    if end != len(data):
        raise CheckpointError(f"{path}: the header describes {end} bytes of tensor data but the file holds "
                              f"{len(data)} (truncated or corrupt)")
    return path, header, metadata, data


def _offsets(path, name, e):
    """(begin, end) of a header entry after checking its dtype and that its shape fills that byte range."""
    try:
        begin, stop = (int(v) for v in e["data_offsets"])
        st = e["dtype"]
        count = int(np.prod([int(s) for s in e["shape"]], dtype=np.int64))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: corrupt header entry for tensor '{name}': {e}") from None
    if st not in _ST_DTYPES:
        raise CheckpointError(f"{path}: tensor '{name}' has dtype {st}, which tensorforge cannot load")
    if begin < 0 or stop - begin != count * np.dtype(_ST_DTYPES[st][0]).itemsize:
        raise CheckpointError(f"{path}: tensor '{name}' of shape {e['shape']} and dtype {st} does not match its "
                              f"byte range {e['data_offsets']} (corrupt header)")
    return begin, stop


def _array(entry, data):
    """The entry's array, sharing the file buffer when no conversion is needed."""
    begin, stop = entry["data_offsets"]
    src, dst = _ST_DTYPES[entry["dtype"]]
    array = np.frombuffer(data[begin:stop], dtype=np.dtype(src).newbyteorder("<")).reshape(entry["shape"])
    if entry["dtype"] == "BF16":  # bfloat16 is the top half of a float32
        return (array.astype(np.uint32) << 16).view(np.float32)
    if array.dtype != np.dtype(dst) or not array.flags.aligned:
        return array.astype(dst)
    return array


def _verify(path, entries, metadata, data, required):
    expected = metadata.get(CHECKSUM_KEY)
    if expected is None:
        if required:
            raise CheckpointError(f"{path}: no {CHECKSUM_KEY} in the metadata; not written by tensorforge.save "
                                  "(use tensorforge.load_file for plain safetensors files)")
        return
    chunks = [data[e["data_offsets"][0]:e["data_offsets"][1]] for _, e in
              sorted(entries.items(), key=lambda kv: kv[1]["data_offsets"][0])]
    if _checksum(entries, metadata.get(STRUCTURE_KEY), chunks) != expected:
        raise CheckpointError(f"{path}: checksum mismatch; the file is corrupt")


def _place(array, dev):
    if dev is None or device(dev).type == "cpu":
        return array
    try:
        return to_device(array, dev)
    except RuntimeError as e:
        raise RuntimeError(f"load: the checkpoint has a tensor for {dev}, but {e} To load it on the CPU, "
                           "pass map_location='cpu'.") from None


def _map_location(map_location):
    if map_location is None or isinstance(map_location, (str, device)):
        return map_location
    raise TypeError("map_location must be None, a device string ('cpu', 'cuda', 'cuda:1') or a "
                    f"tensorforge.device, got {type(map_location).__name__}")


def load(f, map_location=None, weights_only=True):
    """Loads what save() wrote (from a path or a binary file object): the same nested structure, with Tensors
    (not requiring grad) in place. map_location: None puts every tensor on the device it was saved from
    (CUDA tensors are stored from host copies), or 'cpu' / 'cuda' / 'cuda:N' / a device puts them all there;
    weights_only is always true (nothing is unpickled) and accepted for PyTorch's signature."""
    map_location = _map_location(map_location)
    path, entries, metadata, data = _read(f)
    _verify(path, entries, metadata, data, required=True)
    if STRUCTURE_KEY not in metadata:
        raise CheckpointError(f"{path}: no {STRUCTURE_KEY} in the metadata; use tensorforge.load_file")
    arrays = {name: _array(e, data) for name, e in entries.items()}
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
    except ValueError as e:
        raise CheckpointError(f"{path}: corrupt structure metadata ({e})") from None
    try:
        return _unflatten(structure, arrays, map_location)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path}: corrupt structure metadata ({e})") from None


def load_file(filename, device="cpu"):
    """Loads a flat safetensors file (ours or any other writer's) as {name: Tensor} on `device`."""
    device = _map_location(device)
    path, entries, metadata, data = _read(filename)
    _verify(path, entries, metadata, data, required=False)
    return {name: make(_place(_array(e, data), device)) for name, e in entries.items()}


def load_metadata(filename):
    """The __metadata__ dict (str -> str) of a safetensors file, without loading its tensors."""
    return _read(filename)[2]
