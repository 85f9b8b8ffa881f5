"""DataLoader with num_workers > 0: the same batches as in-process loading, per-worker seeds and
shares of an iterable dataset, errors raised with the worker's traceback, dead and slow workers,
early exit, persistent workers, the spawn start method, option checks."""
import os
import random
import time

import numpy as np
import pytest

import tensorforge as tf
from tensorforge.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info


def _batches(loader):
    return [[t.numpy().tolist() for t in b] if isinstance(b, (list, tuple)) else b.numpy().tolist() for b in loader]


@pytest.fixture
def tensor_ds():
    x = tf.tensor(np.arange(94, dtype=np.float32).reshape(47, 2))
    return TensorDataset(x, tf.tensor(np.arange(47)))


class Squares(Dataset):
    """Map-style, per-sample collate (not the TensorDataset fast path)."""

    def __len__(self):
        return 29

    def __getitem__(self, i):
        return {"x": np.float32(i) ** 2, "i": i}


class Numbers(IterableDataset):
    """0..n-1, each worker producing the numbers congruent to its id."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


class Failing(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == 9:
            raise ValueError(f"sample {i} is corrupt")
        return i


class Dying(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5 and get_worker_info() is not None:
            os._exit(3)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(5 if i == 2 else 0)
        return i


class RandomDraws(Dataset):
    """Each sample reports the worker and draws from the three generators a worker seeds."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([info.id, info.seed % 1000003, random.random(), np.random.random(),
                         tf.rand(1).item()])


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("num_workers", [1, 3])
def test_same_batches_as_in_process(tensor_ds, shuffle, num_workers):
    for dataset in (tensor_ds, Squares()):
        plain = DataLoader(dataset, batch_size=5, shuffle=shuffle, generator=np.random.default_rng(7))
        workers = DataLoader(dataset, batch_size=5, shuffle=shuffle, generator=np.random.default_rng(7),
                             num_workers=num_workers)
        for _ in range(2):  # two epochs: the shuffle order stays in step
            a, b = list(plain), list(workers)
            assert len(a) == len(b) == len(workers) == -(-len(dataset) // 5)
            for x, y in zip(a, b):
                if isinstance(x, dict):
                    assert x.keys() == y.keys()
                    for k in x:
                        np.testing.assert_array_equal(x[k].numpy(), y[k].numpy())
                else:
                    for s, t in zip(x, y):
                        np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_drop_last_and_batch_sampler_with_workers(tensor_ds):
    got = _batches(DataLoader(tensor_ds, batch_size=10, drop_last=True, num_workers=2))
    assert [len(b[1]) for b in got] == [10, 10, 10, 10]
    sampler = [[3, 1], [46, 0, 5], [2]]
    got = _batches(DataLoader(tensor_ds, batch_sampler=sampler, num_workers=2))
    assert [b[1] for b in got] == sampler


def test_iterable_dataset_shares_and_interleaving():
    got = _batches(DataLoader(Numbers(23), batch_size=4, num_workers=3))
    # worker w yields w, w+3, ...; its batches come back in rotation, shorter last batches included
    assert got == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11], [12, 15, 18, 21], [13, 16, 19, 22], [14, 17, 20]]
    assert sorted(v for b in got for v in b) == list(range(23))
    dropped = _batches(DataLoader(Numbers(23), batch_size=4, num_workers=3, drop_last=True))
    assert dropped == got[:5]  # each worker drops its own short last batch
    assert get_worker_info() is None


def test_worker_seeds_are_distinct_and_reproducible():
    def draws():
        loader = DataLoader(RandomDraws(), batch_size=1, num_workers=2, generator=np.random.default_rng(3))
        return np.concatenate([b.numpy() for b in loader])
    first, again = draws(), draws()
    np.testing.assert_array_equal(first, again)
    assert first[:, 0].tolist() == [0, 1, 0, 1]
    assert first[0, 1] != first[1, 1]  # base seed + worker id
    for col in (2, 3, 4):  # python, numpy legacy and tensorforge generators differ between workers
        assert first[0, col] != first[1, col]
    other = DataLoader(RandomDraws(), batch_size=1, num_workers=2, generator=np.random.default_rng(4))
    assert not np.array_equal(np.concatenate([b.numpy() for b in other]), first)


def _record_init(worker_id):
    np.random.seed(1000 + worker_id)


def test_worker_init_fn_runs_in_each_worker():
    loader = DataLoader(RandomDraws(), batch_size=1, num_workers=2, worker_init_fn=_record_init)
    draws = np.concatenate([b.numpy() for b in loader])
    assert draws[0, 3] == np.random.RandomState(1000).random()
    assert draws[1, 3] == np.random.RandomState(1001).random()


def _failing_init(worker_id):
    raise OSError(f"no GPU for worker {worker_id}")


def test_errors_are_raised_with_the_worker_traceback():
    with pytest.raises(ValueError, match=r"(?s)Caught ValueError in DataLoader worker process 1.*sample 9 is corrupt"):
        list(DataLoader(Failing(), batch_size=3, num_workers=2))
    with pytest.raises(OSError, match="worker_init_fn of DataLoader worker process"):
        list(DataLoader(Failing(), batch_size=3, num_workers=2, worker_init_fn=_failing_init))
    with pytest.raises(Exception, match="must be picklable"):
        list(DataLoader(Unpicklable(), batch_size=1, num_workers=1, collate_fn=lambda b: b[0]))


def test_dead_worker_and_timeout_raise():
    with pytest.raises(RuntimeError, match=r"DataLoader worker process \d \(pid \d+\) exited unexpectedly with exit "
                                           r"code 3"):
        list(DataLoader(Dying(), batch_size=1, num_workers=2))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5))
    assert time.monotonic() - start < 4


def test_breaking_out_early_stops_the_workers(tensor_ds):
    loader = DataLoader(tensor_ds, batch_size=2, num_workers=2)
    it = iter(loader)
    next(it)
    processes = list(it.pool.processes)
    del it
    for p in processes:
        p.join(timeout=10)
        assert not p.is_alive()


def test_persistent_workers_survive_epochs(tensor_ds):
    loader = DataLoader(tensor_ds, batch_size=10, shuffle=True, num_workers=2, persistent_workers=True,
                        generator=np.random.default_rng(0))
    plain = DataLoader(tensor_ds, batch_size=10, shuffle=True, generator=np.random.default_rng(0))
    pids = None
    for epoch in range(3):
        it = iter(loader)
        if epoch == 1:  # abandon an epoch half-way: its late batches must not leak into the next one
            next(it)
            next(iter(plain))
            continue
        assert _batches(it) == _batches(plain)
        now = [p.pid for p in loader._pool.processes]
        assert pids is None or now == pids
        pids = now
    streams = DataLoader(Numbers(10), batch_size=3, num_workers=2, persistent_workers=True)
    assert _batches(streams) == _batches(streams)  # each epoch restarts the stream in every worker
    loader._pool.shutdown()
    streams._pool.shutdown()


def test_spawn_start_method(tensor_ds):
    loader = DataLoader(tensor_ds, batch_size=16, num_workers=2, multiprocessing_context="spawn")
    assert _batches(loader) == _batches(DataLoader(tensor_ds, batch_size=16))


def test_option_errors(tensor_ds):
    with pytest.raises(ValueError, match="num_workers option should be a non-negative integer"):
        DataLoader(tensor_ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(tensor_ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor option should be a positive integer"):
        DataLoader(tensor_ds, num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(tensor_ds, persistent_workers=True)
    with pytest.raises(ValueError, match="timeout option should be a non-negative number"):
        DataLoader(tensor_ds, num_workers=1, timeout=-1)
    with pytest.raises(TypeError, match="worker_init_fn must be callable"):
        DataLoader(tensor_ds, num_workers=1, worker_init_fn=3)
