"""DataLoader with num_workers > 0: worker processes fetch and collate batches while the main
process trains.

The main process keeps prefetch_factor batches per worker in flight: task i (the indices of the
i-th batch of the sampler, or "your next batch" for an iterable dataset) goes to one worker in
rotation, and batches are handed out strictly in task order, so the batches and their order are
the same as with num_workers=0 (an iterable dataset yields its workers' batches interleaved, as in
PyTorch). Results are tagged with an epoch number, so persistent workers can start a new epoch
while results of an abandoned one are still queued. While waiting, the main process wakes every
second to check that the workers are alive, and raises after `timeout` seconds without a batch.
"""
import itertools
import multiprocessing
import pickle
import queue
import time
import weakref

from ._worker import ExceptionWrapper, StreamEnd, worker_loop

_POLL_SECONDS = 1.0
_JOIN_SECONDS = 1.0  # a worker still busy after this (a batch nobody will read) is terminated


def _shutdown(processes, index_queues, result_queue):
    """Asks every worker to stop, waits a moment, terminates the ones still running."""
    for q in index_queues:
        try:
            q.put(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + _JOIN_SECONDS
    for p in processes:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join()
    for q in (*index_queues, result_queue):
        q.cancel_join_thread()
        q.close()


class WorkerPool:
    """num_workers processes started with `fetcher`; they live until shutdown() (or until this object
    is garbage-collected)."""

    def __init__(self, fetcher, num_workers, base_seed, worker_init_fn, context):
        ctx = multiprocessing.get_context(context) if context is None or isinstance(context, str) else context
        self.num_workers = num_workers
        self.index_queues = [ctx.Queue() for _ in range(num_workers)]
        self.result_queue = ctx.Queue()
        self.processes = []
        for worker_id in range(num_workers):
            p = ctx.Process(target=worker_loop, daemon=True,
                            args=(fetcher, self.index_queues[worker_id], self.result_queue, worker_id, num_workers,
                                  base_seed, worker_init_fn))
            p.start()
            self.processes.append(p)
        self.epochs = itertools.count()
        self._finalizer = weakref.finalize(self, _shutdown, self.processes, self.index_queues, self.result_queue)

    def shutdown(self):
        self._finalizer()

    def alive(self):
        return self._finalizer.alive and all(p.is_alive() for p in self.processes)

    def check_alive(self):
        for worker_id, p in enumerate(self.processes):
            if not p.is_alive():
                self.shutdown()
                raise RuntimeError(f"DataLoader worker process {worker_id} (pid {p.pid}) exited unexpectedly "
                                   f"with exit code {p.exitcode}")


class MultiProcessBatches:
    """One epoch of batches from `pool`. `index_batches` is the batch sampler's iterator for a
    map-style dataset, or None for an iterable one."""

    def __init__(self, pool, index_batches, prefetch_factor, timeout, persistent):
        self.pool = pool
        self.index_batches = index_batches
        self.timeout = timeout
        self.persistent = persistent
        self.epoch = next(pool.epochs)
        self.active = list(range(pool.num_workers))  # workers whose stream has not ended
        self.rotation = itertools.cycle(range(pool.num_workers))
        self.sent = 0
        self.received = 0
        self.task_worker = {}
        self.arrived = {}
        for _ in range(prefetch_factor * pool.num_workers):
            if not self._send_next():
                break

    def __iter__(self):
        return self

    def _send_next(self):
        if self.index_batches is None:
            if not self.active:
                return False
            worker = next(w for w in self.rotation if w in self.active)
            indices = None
        else:
            indices = next(self.index_batches, None)
            if indices is None:
                return False
            worker = next(self.rotation)
        self.pool.index_queues[worker].put((self.epoch, self.sent, indices))
        self.task_worker[self.sent] = worker
        self.sent += 1
        return True

    def _wait_for(self, task_id):
        start = time.monotonic()
        while task_id not in self.arrived:
            wait = _POLL_SECONDS
            if self.timeout > 0:
                left = self.timeout - (time.monotonic() - start)
                if left <= 0:
                    self._close()
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds waiting for a batch "
                                       f"from worker process {self.task_worker[task_id]}")
                wait = min(wait, left)
            try:
                epoch, done_id, payload = self.pool.result_queue.get(timeout=wait)
            except queue.Empty:
                self.pool.check_alive()
                continue
            if epoch == self.epoch:
                self.arrived[done_id] = payload
        return pickle.loads(self.arrived.pop(task_id))

    def __next__(self):
        while self.received < self.sent:
            task_id = self.received
            data = self._wait_for(task_id)
            worker = self.task_worker.pop(task_id)
            self.received += 1
            if isinstance(data, StreamEnd):
                if worker in self.active:
                    self.active.remove(worker)
                continue
            if isinstance(data, ExceptionWrapper):
                self._close()
                data.reraise()
            self._send_next()
            return data
        self._close()
        raise StopIteration

    def _close(self):
        if not self.persistent:
            self.pool.shutdown()
