"""What runs inside a DataLoader worker process: the batch fetchers, the worker loop, get_worker_info.

A worker receives (epoch, task id, batch indices) on its own index queue and answers
(epoch, task id, pickled batch) on the shared result queue. Map-style datasets get the indices of one
batch; an iterable dataset's worker gets None and answers with the next batch of its own copy of
the stream (restarted when the epoch changes), or a StreamEnd when that copy has ended. An exception
in the worker travels back as an ExceptionWrapper and is raised again in the main process, naming
the worker. A worker runs one thread of tensorforge kernels (several workers share the cores) and
seeds Python's, numpy's legacy and tensorforge's generators with base_seed + worker id.
"""
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ..tensor import make

_PARENT_POLL_SECONDS = 5.0

_worker_info = None


class StreamEnd:
    """The answer of an iterable dataset's worker whose copy of the stream has no batch left."""


@dataclass(frozen=True)
class WorkerInfo:
    """What get_worker_info() returns inside a worker: its id, the number of workers, its seed and
    its copy of the dataset (an IterableDataset uses id and num_workers to pick its share)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The WorkerInfo of the DataLoader worker process this runs in, or None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback as text."""

    def __init__(self, where):
        exc_type = sys.exc_info()[0]
        try:
            pickle.dumps(exc_type)
        except Exception:  # a class the main process could not import back
            exc_type = RuntimeError
        self.exc_type = exc_type
        self.message = f"Caught {sys.exc_info()[0].__name__} {where}.\nOriginal {traceback.format_exc()}"

    def reraise(self):
        try:
            error = self.exc_type(self.message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(self.message)
        raise error


class MapFetcher:
    """One batch of a map-style dataset from its indices: the TensorDataset fast path (`source` with an
    optional index map: every tensor indexed with the whole batch at once) or collate_fn over samples."""

    def __init__(self, dataset, collate_fn, source, index_map):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.source = source
        self.index_map = index_map

    def __call__(self, indices):
        if self.source is None:
            return self.collate_fn([self.dataset[i] for i in indices])
        idx = np.asarray(indices, dtype=np.int64)
        if self.index_map is not None:
            idx = self.index_map[idx]
        return [make(t._data[idx]) for t in self.source.tensors]


class StreamFetcher:
    """Consecutive batches of batch_size samples from an iterator over an IterableDataset; the last
    one shorter unless drop_last. Raises StopIteration when the stream has no batch left."""

    def __init__(self, dataset, batch_size, drop_last, collate_fn):
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.samples = None

    def restart(self):
        self.samples = iter(self.dataset)

    def __call__(self, _indices=None):
        batch = []
        for sample in self.samples:
            batch.append(sample)
            if len(batch) == self.batch_size:
                break
        if not batch or (len(batch) < self.batch_size and self.drop_last):
            raise StopIteration
        return self.collate_fn(batch)


def _seed_everything(seed):
    from .._creation import manual_seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    manual_seed(seed)


def worker_loop(fetcher, index_queue, result_queue, worker_id, num_workers, base_seed, worker_init_fn):
    """The body of worker process `worker_id`; returns when it receives None or its parent is gone."""
    global _worker_info
    from .._config import set_num_threads
    set_num_threads(1)
    seed = base_seed + worker_id
    _seed_everything(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception:
            init_error = ExceptionWrapper(f"in worker_init_fn of DataLoader worker process {worker_id}")
    parent = os.getppid()
    stream_epoch = None
    while True:
        try:
            task = index_queue.get(timeout=_PARENT_POLL_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:  # the main process died without telling us
                return
            continue
        except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the main process decides
            continue
        if task is None:
            result_queue.cancel_join_thread()  # exit now even if the main process no longer reads
            return
        epoch, task_id, indices = task
        if init_error is not None:
            data = init_error
        else:
            try:
                if isinstance(fetcher, StreamFetcher) and epoch != stream_epoch:
                    fetcher.restart()
                    stream_epoch = epoch
                data = fetcher(indices)
            except StopIteration:
                data = StreamEnd()
            except Exception:
                data = ExceptionWrapper(where)
        result_queue.put((epoch, task_id, _pickled(data, worker_id)))


def _pickled(data, worker_id):
    """`data` pickled here, so that a batch that cannot be pickled becomes an error the main process
    raises (multiprocessing.Queue would fail later, in its feeder thread, and the batch never arrive)."""
    try:
        return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return pickle.dumps(ExceptionWrapper(f"while sending a batch from DataLoader worker process {worker_id} "
                                             f"to the main process (it must be picklable)"))
