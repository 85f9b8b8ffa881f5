"""tensorforge.save/load (nested state dicts, safetensors format, atomic writes, corruption detection) and
save_file/load_file (flat dicts, interoperable with the safetensors package)."""
import json
import os
import struct

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import serialization
from tensorforge.serialization import CheckpointError

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


def random_of(rng, dtype, shape):
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


def checkpoint(rng):
    w = tf.tensor(random_of(rng, np.float32, (7, 3)), requires_grad=True)
    return {
        "model": {"fc.weight": w, "fc.bias": tf.tensor(random_of(rng, np.float32, (7,))),
                  "bn.num_batches_tracked": tf.tensor(np.int64(rng.integers(1000)))},
        "optimizer": {"state": {0: {"step": 12, "exp_avg": tf.tensor(random_of(rng, np.float32, (7, 3))),
                                    "exp_avg_sq": tf.tensor(random_of(rng, np.float32, (7, 3)))},
                                1: {"step": tf.tensor(np.float32(12.0))}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                                        "foreach": None, "params": [0, 1]}]},
        "epoch": 3, "best": float("inf"), "name": "run-α", "history": [0.5, 0.25], "empty": {}, "none": None,
        "mask": np.arange(6).reshape(2, 3) > 2,
    }


def assert_same(a, b, path="root"):
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, tf.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert not b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.numpy(), err_msg=path)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        assert all(type(k) is type(kb) for k, kb in zip(a, b)), f"{path}: key types differ"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}.{i}")
    else:
        assert a == b, path


def test_round_trip_nested_checkpoint(tmp_path, rng):
    obj = checkpoint(rng)
    path = tmp_path / "ckpt.safetensors"
    tf.save(obj, path)
    back = tf.load(path)
    assert_same(obj, back)
    assert list(back["optimizer"]["state"]) == [0, 1]  # int keys come back as ints
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7, 33), (2, 3, 5)])
def test_round_trip_every_dtype_and_shape(tmp_path, rng, dtype, shape):
    t = tf.tensor(random_of(rng, dtype, shape))
    view = tf.tensor(random_of(rng, dtype, (6, 4)))[:, ::2]  # non-contiguous input
    tf.save({"t": t, "view": view, "list": [t, t]}, tmp_path / "x.st")
    back = tf.load(tmp_path / "x.st")
    assert_same({"t": t, "view": view, "list": [t, t]}, back)


def test_file_is_standard_safetensors(tmp_path, rng):
    sd = {"a.weight": tf.tensor(random_of(rng, np.float64, (3, 2))), "b": tf.tensor(random_of(rng, np.uint8, (5,)))}
    tf.save(sd, tmp_path / "f.st")
    raw = (tmp_path / "f.st").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in meta.values()) and serialization.CHECKSUM_KEY in meta
    assert header["a.weight"] == {"dtype": "F64", "shape": [3, 2], "data_offsets": [0, 48]}
    assert header["b"] == {"dtype": "U8", "shape": [5], "data_offsets": [48, 53]}
    assert raw[8 + n:8 + n + 48] == sd["a.weight"].numpy().astype("<f8").tobytes()
    assert len(raw) == 8 + n + 53


def test_failed_write_leaves_old_file_intact(tmp_path, rng, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    old = {"w": tf.tensor(random_of(rng, np.float32, (4, 4)))}
    tf.save(old, path)
    before = path.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    for target in ("fsync", "replace"):
        with monkeypatch.context() as m:
            m.setattr(serialization.os, target, fail)
            with pytest.raises(OSError, match="No space"):
                tf.save({"w": tf.zeros(100, 100)}, path)
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]  # no temp file left behind
    with pytest.raises(TypeError, match="'w.1'"):  # unsupported values fail before anything is written
        tf.save({"w": [1, object()]}, path)
    assert path.read_bytes() == before
    assert_same(old, tf.load(path))


def test_truncated_files_are_errors(tmp_path, rng):
    path = tmp_path / "ckpt.st"
    tf.save(checkpoint(rng), path)
    raw = path.read_bytes()
    for cut in (0, 5, 8, 20, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated|header"):
            tf.load(path)
    path.write_bytes(raw + b"\0")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        tf.load(path)


def test_corruption_is_detected(tmp_path, rng):
    path = tmp_path / "ckpt.st"
    tf.save(checkpoint(rng), path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    positions = list(rng.integers(8 + n, len(raw), 5)) + list(rng.integers(8, 8 + n, 20))
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(bad))
        try:
            tf.load(path)
        except CheckpointError:
            continue
        # the only flips that may load are those into padding spaces of the header
        assert raw[pos:pos + 1] == b" " and 8 + n - pos <= 8, f"flip at byte {pos} went unnoticed"


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        tf.load(tmp_path / "nope.st")
    (tmp_path / "text.st").write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(CheckpointError):
        tf.load(tmp_path / "text.st")
    tf.save_file({"x": tf.ones(2)}, tmp_path / "flat.st")
    with pytest.raises(CheckpointError, match="load_file"):
        tf.load(tmp_path / "flat.st")


def test_save_file_load_file_and_metadata(tmp_path, rng):
    tensors = {f"t{i}": tf.tensor(random_of(rng, d, (3, i + 1))) for i, d in enumerate(DTYPES)}
    tf.save_file(tensors, tmp_path / "flat.st", metadata={"format": "pt", "note": "hi"})
    back = tf.load_file(tmp_path / "flat.st")
    assert_same(tensors, {k: back[k] for k in tensors})
    meta = serialization.load_metadata(tmp_path / "flat.st")
    assert meta["format"] == "pt" and meta["note"] == "hi"
    with pytest.raises(TypeError, match="metadata"):
        tf.save_file(tensors, tmp_path / "bad.st", metadata={"epoch": 3})
    with pytest.raises(TypeError, match="str keys"):
        tf.save_file({"a": np.zeros(2)}, tmp_path / "bad.st")
    assert not (tmp_path / "bad.st").exists()


def test_interop_with_safetensors_package(tmp_path, rng):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {f"a{i}": random_of(rng, d, (2, 5)) for i, d in enumerate(DTYPES)}
    arrays["half"] = random_of(rng, np.float32, (4,)).astype(np.float16)
    arrays["small"] = random_of(rng, np.int16, (3,))
    st_numpy.save_file(arrays, str(tmp_path / "theirs.st"), metadata={"k": "v"})
    ours = tf.load_file(tmp_path / "theirs.st")
    for k, a in arrays.items():
        np.testing.assert_array_equal(ours[k].numpy(), a)
    assert ours["half"].dtype == tf.float32 and ours["small"].dtype == tf.int32
    assert serialization.load_metadata(tmp_path / "theirs.st") == {"k": "v"}
    tf.save_file({k: tf.tensor(a) for k, a in arrays.items() if k.startswith("a")}, tmp_path / "ours.st")
    theirs = st_numpy.load_file(str(tmp_path / "ours.st"))
    for k in theirs:
        np.testing.assert_array_equal(theirs[k], arrays[k])
    tf.save(checkpoint(rng), tmp_path / "nested.st")  # a nested checkpoint is still a valid safetensors file
    assert "optimizer.state.0.exp_avg" in st_numpy.load_file(str(tmp_path / "nested.st"))


def test_bfloat16_from_torch(tmp_path, rng):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.tensor(random_of(rng, np.float32, (3, 4))).to(torch.bfloat16)
    st_torch.save_file({"w": t}, str(tmp_path / "bf16.st"))
    np.testing.assert_array_equal(tf.load_file(tmp_path / "bf16.st")["w"].numpy(), t.float().numpy())


def test_colliding_names_and_top_level_values(tmp_path, rng):
    a, b = (tf.tensor(random_of(rng, np.float32, (3,))) for _ in range(2))
    obj = {"a.b": a, "a": {"b": b}}
    tf.save(obj, tmp_path / "c.st")
    assert_same(obj, tf.load(tmp_path / "c.st"))
    for top in (a, [a, b, 3], (None, "x"), 7):
        tf.save(top, tmp_path / "top.st")
        assert_same(top, tf.load(tmp_path / "top.st"))
    with pytest.raises(TypeError, match="keys must be str or int"):
        tf.save({(1, 2): a}, tmp_path / "bad.st")
    with pytest.raises(TypeError, match="float16"):
        tf.save({"h": np.zeros(2, np.float16)}, tmp_path / "bad.st")


def test_file_objects_and_torch_style_arguments(tmp_path, rng):
    import io

    obj = checkpoint(rng)
    buf = io.BytesIO()
    tf.save(obj, buf)
    buf.seek(0)
    assert_same(obj, tf.load(buf, map_location="cpu", weights_only=True))
    with open(tmp_path / "f.st", "wb") as f:
        tf.save(obj, f)
    with open(tmp_path / "f.st", "rb") as f:
        assert_same(obj, tf.load(f))
    if not tf.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA tensors"):
            tf.load(tmp_path / "f.st", map_location="cuda:0")
    with pytest.raises(CheckpointError, match="truncated"):
        tf.load(io.BytesIO(buf.getvalue()[:-3]))
