"""tensorforge.data: default_collate, samplers, DataLoader (shuffle reproducibility, drop_last, batch counts,
the TensorDataset fast path) and random_split."""
import collections

import numpy as np
import pytest

import tensorforge as tf
from tensorforge.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                              Subset, SubsetRandomSampler, TensorDataset, default_collate, random_split)


class ListDataset(Dataset):
    def __init__(self, items):
        self.items = items

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def xy(rng, n=37):
    x = tf.tensor(rng.standard_normal((n, 3, 2)).astype(np.float32))
    y = tf.tensor(rng.integers(0, 10, n))
    return x, y


def test_alias_is_the_same_module():
    import tensorforge.utils.data as tud
    from tensorforge.utils.data import DataLoader as DL

    assert tud is tf.data and DL is DataLoader


def test_collate_tensors_arrays_numbers(rng):
    a = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(4)]
    out = default_collate([tf.tensor(v) for v in a])
    assert out.shape == (4, 2, 3) and out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), np.stack(a))
    out = default_collate(a)
    assert isinstance(out, tf.Tensor) and out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.stack(a))
    floats = default_collate([0.5, 1.5, -2.0])
    assert floats.dtype == tf.float64 and floats.tolist() == [0.5, 1.5, -2.0]
    ints = default_collate([3, 1, 4])
    assert ints.dtype == tf.int64 and ints.tolist() == [3, 1, 4]
    assert default_collate([True, False]).dtype == tf.bool
    assert default_collate([np.int32(3), np.int32(4)]).tolist() == [3, 4]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_nested_like_torch(rng):
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    samples = [{"x": rng.standard_normal(3).astype(np.float32), "y": int(rng.integers(10)), "w": float(i),
                "pair": (rng.standard_normal(2).astype(np.float32), i), "name": f"s{i}"} for i in range(5)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    assert set(ours) == set(theirs)
    for key in ("x", "y", "w"):
        assert str(ours[key].dtype).split(".")[-1] == str(theirs[key].dtype).split(".")[-1]
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
    assert isinstance(ours["pair"], list) and isinstance(theirs["pair"], list)
    for a, b in zip(ours["pair"], theirs["pair"]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ours["name"] == theirs["name"]
    del torch


def test_collate_namedtuple_and_errors():
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(out, Point) and out.x.tolist() == [1, 3] and out.y.dtype == tf.float64
    with pytest.raises(RuntimeError, match="equal shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


@pytest.mark.parametrize("n,bs,drop_last,expected", [(37, 8, False, 5), (37, 8, True, 4), (32, 8, True, 4),
                                                     (5, 10, False, 1), (5, 10, True, 0), (1, 1, False, 1)])
def test_batch_counts_and_sizes(rng, n, bs, drop_last, expected):
    x, y = xy(rng, n)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == expected
    sizes = [b[0].shape[0] for b in batches]
    assert all(s == bs for s in sizes[:-1])
    assert sum(sizes) == (n // bs) * bs if drop_last else n


def test_sequential_order_and_values(rng):
    x, y = xy(rng)
    xs, ys = zip(*DataLoader(TensorDataset(x, y), batch_size=10))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in xs]), x.numpy())
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in ys]), y.numpy())


def test_shuffle_reproducible_with_generator_and_manual_seed(rng):
    ds = ListDataset(list(range(50)))
    seed = int(rng.integers(1 << 30))

    def epoch(loader):
        return np.concatenate([b.numpy() for b in loader]).tolist()

    a = DataLoader(ds, batch_size=7, shuffle=True, generator=np.random.default_rng(seed))
    b = DataLoader(ds, batch_size=7, shuffle=True, generator=np.random.default_rng(seed))
    first_a, first_b = epoch(a), epoch(b)
    assert first_a == first_b and sorted(first_a) == list(range(50)) and first_a != list(range(50))
    assert epoch(a) != first_a  # a fresh order each epoch
    tf.manual_seed(seed)
    c = epoch(DataLoader(ds, batch_size=7, shuffle=True))
    tf.manual_seed(seed)
    assert epoch(DataLoader(ds, batch_size=7, shuffle=True)) == c


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_dataset_fast_path_equals_per_item_collate(rng, shuffle):
    x, y = xy(rng, 41)
    ds = TensorDataset(x, y)
    seed = int(rng.integers(1 << 30))
    fast = DataLoader(ds, batch_size=6, shuffle=shuffle, generator=np.random.default_rng(seed))
    slow = DataLoader(ds, batch_size=6, shuffle=shuffle, generator=np.random.default_rng(seed),
                      collate_fn=default_collate)
    assert fast._fetch.source is ds and slow._fetch.source is None
    n = 0
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype == tf.int64
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        n += 1
    assert n == len(fast) == 7


def test_fast_path_through_nested_subsets(rng):
    x, y = xy(rng, 30)
    inner = Subset(TensorDataset(x, y), list(range(29, -1, -2)))
    outer = Subset(inner, [4, 0, 7, 2])
    (bx, by), = list(DataLoader(outer, batch_size=4))
    expect = [29 - 2 * i for i in (4, 0, 7, 2)]
    np.testing.assert_array_equal(bx.numpy(), x.numpy()[expect])
    np.testing.assert_array_equal(by.numpy(), y.numpy()[expect])


def test_dict_samples_and_custom_collate():
    ds = ListDataset([{"a": i, "b": [i, i + 1]} for i in range(6)])
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["a"].tolist() == [0, 1, 2, 3]
    assert [t.tolist() for t in batch["b"]] == [[0, 1, 2, 3], [1, 2, 3, 4]]
    assert list(DataLoader(ds, batch_size=4, collate_fn=len)) == [4, 2]


def test_iterable_dataset_batches():
    loader = DataLoader(Stream(10), batch_size=4)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in DataLoader(Stream(10), batch_size=4, drop_last=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(TypeError):
        len(loader)


def test_sampler_and_batch_sampler_options():
    ds = ListDataset(list(range(10)))
    picked = [b.tolist() for b in DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 1])]
    assert picked == [[9, 8, 7], [1]]
    bs = BatchSampler(RandomSampler(ds, generator=np.random.default_rng(0)), 4, drop_last=False)
    assert sorted(i for b in DataLoader(ds, batch_sampler=bs) for i in b.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    draws = list(RandomSampler(ds, replacement=True, num_samples=25, generator=np.random.default_rng(1)))
    assert len(draws) == 25 and all(0 <= i < 10 for i in draws)
    longer = list(RandomSampler(ds, num_samples=25, generator=np.random.default_rng(1)))
    assert len(longer) == 25 and sorted(longer[:10]) == list(range(10)) and sorted(longer[10:20]) == list(range(10))
    subset = SubsetRandomSampler([2, 4, 6, 8], generator=np.random.default_rng(2))
    assert sorted(subset) == [2, 4, 6, 8] and len(subset) == 4


def test_random_split(rng):
    ds = ListDataset(list(range(23)))
    seed = int(rng.integers(1 << 30))
    parts = random_split(ds, [10, 8, 5], generator=np.random.default_rng(seed))
    again = random_split(ds, [10, 8, 5], generator=np.random.default_rng(seed))
    assert [len(p) for p in parts] == [10, 8, 5]
    items = [[p[i] for i in range(len(p))] for p in parts]
    assert items == [[p[i] for i in range(len(p))] for p in again]
    assert sorted(sum(items, [])) == list(range(23))
    fractions = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(seed))
    assert [len(p) for p in fractions] == [12, 7, 4]  # floor 11, 6, 4 plus the remainder round-robin
    with pytest.raises(ValueError, match="does not equal"):
        random_split(ds, [10, 10])
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        random_split(ds, [20, 3], generator=42)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=42)


def test_tensor_dataset_and_concat_errors(rng):
    x, y = xy(rng, 5)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, y[:4])
    with pytest.raises(TypeError, match="argument 1"):
        TensorDataset(x, [1, 2, 3, 4, 5])
    cat = ConcatDataset([ListDataset([1, 2]), ListDataset([3, 4, 5])])
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [1, 2, 3, 4, 5] and cat[-1] == 5
    with pytest.raises(IndexError):
        cat[5]
