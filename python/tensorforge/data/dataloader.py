"""DataLoader: iterates a dataset in (optionally shuffled) batches, in the main process.

A TensorDataset (or a Subset of one) with the default collate takes a fast path: each tensor is
indexed with the whole batch of indices at once instead of collating sample by sample.
"""
import numpy as np

from ..tensor import make
from .collate import default_collate
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


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
    tensorforge's global generator when None, so manual_seed(s) makes it reproducible.
    num_workers and pin_memory are accepted for compatibility; loading always runs in this process.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, generator=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be a non-negative integer, got {num_workers}")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
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
        self._source, self._index_map = (None, None) if collate_fn is not None else _tensor_source(dataset)

    def __iter__(self):
        if self._iterable:
            return self._iter_stream()
        if self._source is not None:
            return self._iter_tensor_batches()
        return (self.collate_fn([self.dataset[i] for i in batch]) for batch in self.batch_sampler)

    def _iter_tensor_batches(self):
        tensors = [t._data for t in self._source.tensors]
        for batch in self.batch_sampler:
            idx = np.asarray(batch, dtype=np.int64)
            if self._index_map is not None:
                idx = self._index_map[idx]
            yield [make(a[idx]) for a in tensors]

    def _iter_stream(self):
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler)
