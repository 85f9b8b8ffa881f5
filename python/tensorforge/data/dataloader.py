"""DataLoader: iterates a dataset in (optionally shuffled) batches, in the main process or in
num_workers worker processes (_multiprocess.py).

A TensorDataset (or a Subset of one) with the default collate takes a fast path: each tensor is
indexed with the whole batch of indices at once instead of collating sample by sample.
"""
import copy

import numpy as np

from .collate import default_collate
from .dataset import IterableDataset, Subset, TensorDataset
from ._multiprocess import MultiProcessBatches, WorkerPool
from ._worker import MapFetcher, StreamFetcher
from .sampler import BatchSampler, RandomSampler, SequentialSampler, resolve_generator


def _tensor_source(dataset):
    """(TensorDataset, index map or None) when `dataset` is a TensorDataset or Subsets of one."""
    index_map = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    return (dataset, index_map) if type(dataset) is TensorDataset else (None, None)


class DataLoader:
    """Batches of `dataset`, like torch.utils.data.DataLoader.

    shuffle draws a fresh order every epoch from `generator` (a numpy Generator), or from
    tensorforge's global generator when None, so manual_seed(s) makes it reproducible. Each epoch
    also draws a base seed from that generator (whatever num_workers is, so the shuffle order does
    not depend on it); worker i seeds Python's, numpy's and tensorforge's generators with base seed
    + i, and get_worker_info() tells an IterableDataset which share to produce.
    num_workers > 0 fetches and collates batches in that many processes (multiprocessing_context:
    a start method name or context, the platform's default when None), prefetch_factor batches
    ahead per worker (default 2); worker_init_fn(worker_id) runs in each worker first;
    persistent_workers keeps the workers between epochs; timeout > 0 raises when a batch takes
    longer. An exception in a worker is raised in the main process with the worker's traceback.
    pin_memory is accepted for compatibility (no pinned host memory here).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be a non-negative integer, got {num_workers}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout option should be a non-negative number, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing, "
                             "let num_workers > 0 to enable multiprocessing")
        if prefetch_factor is None:
            prefetch_factor = 2 if num_workers > 0 else None
        elif isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) or prefetch_factor <= 0:
            raise ValueError(f"prefetch_factor option should be a positive integer, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"worker_init_fn must be callable, got {type(worker_init_fn).__name__}")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: shuffle, sampler and batch_sampler must not be set")
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn or default_collate
        if self._iterable:
            self._fetch = StreamFetcher(dataset, batch_size, drop_last, self.collate_fn)
        else:
            source, index_map = (None, None) if collate_fn is not None else _tensor_source(dataset)
            self._fetch = MapFetcher(dataset, self.collate_fn, source, index_map)
        self._pool = None

    def __iter__(self):
        base_seed = int(resolve_generator(self.generator).integers(2**62))
        if self.num_workers > 0:
            return self._iter_workers(base_seed)
        if self._iterable:
            return self._iter_stream()
        return (self._fetch(batch) for batch in self.batch_sampler)

    def _iter_stream(self):
        fetch = copy.copy(self._fetch)  # each iterator reads its own pass over the stream
        fetch.restart()
        while True:
            try:
                batch = fetch()
            except StopIteration:
                return
            yield batch

    def _iter_workers(self, base_seed):
        pool = self._pool
        if pool is None or not pool.alive():
            pool = WorkerPool(self._fetch, self.num_workers, base_seed, self.worker_init_fn,
                              self.multiprocessing_context)
            if self.persistent_workers:
                self._pool = pool
        index_batches = None if self._iterable else iter(self.batch_sampler)
        return MultiProcessBatches(pool, index_batches, self.prefetch_factor, self.timeout, self.persistent_workers)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler)
