"""The one way a grid of independent tasks runs: serially, in local processes or on Dask.

Every grid of the package (a sweep's cells, a fixed-point MNIST grid, a quantize
sweep) hands its tasks to :func:`open_executor` and reads the outcomes as they finish::

    with open_executor(workers=2, shared=problem) as ex:
        for done in ex.imap(task_fn, items, on_message=report):
            ...  # done.index, done.result, done.error

``task_fn(item, ctx)`` runs in a worker (a module-level function, so a process or a
Dask worker can unpickle it by name).  ``ctx.shared`` is the object given as
``shared``, sent to each worker once rather than with every task (a spawn-pool
initializer; a Dask scatter); ``ctx.report(message)`` (None unless ``on_message`` is
given) sends a message back, which the client passes to ``on_message`` while tasks
run: the serial and process executors deliver them, Dask does not (its tasks report
only when they finish).

Worker processes run with :data:`WORKER_ENV` (one BLAS, OpenMP and Numba thread), so
a task's numbers do not depend on the executor.  A task that raises an ``Exception``
comes back as an outcome with ``error`` set, as does one whose worker died; any other
exception (Ctrl-C) propagates, and leaving the ``with`` block on an exception cancels
the tasks not yet started.
"""
from __future__ import annotations

import multiprocessing
import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional

from .._threads import WORKER_ENV, worker_env
from .._validate import check_number

#: How a grid reports its progress: ``progress(done, total, text)``, with ``done = 0``
#: once before the first task and then after each finished task (or step); ``text``
#: says what finished.  Library code calls it; the CLI draws a bar with it.
Progress = Callable[[int, int, str], None]

#: Seconds the process executor waits for a task before delivering messages again.
MESSAGE_POLL_S = 0.2


def one_line(e: BaseException) -> str:
    """``"TypeName: first line of the message"`` (what a failed task records)."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


class TaskContext(NamedTuple):
    """What a task receives besides its item: the executor's shared object and a
    ``report(message)`` callable (None when the client asked for no messages)."""

    shared: Any
    report: Optional[Callable[[Any], None]]


class Outcome(NamedTuple):
    """A finished task: its position in the items, its result, or the error it raised."""

    index: int
    result: Any
    error: Optional[BaseException]


def check_executor(workers: int = 1, scheduler=None, dask_local: Optional[int] = None) -> None:
    """``ValueError`` unless exactly one executor is asked for, with valid sizes (and
    Dask installed if it is asked for)."""
    chosen = [x for x in (workers != 1, scheduler is not None, dask_local is not None) if x]
    if len(chosen) > 1:
        raise ValueError("choose one executor: workers > 1, scheduler or dask_local")
    check_number("workers", workers, lo=1, integer=True)
    if dask_local is not None:
        check_number("dask_local", dask_local, lo=1, integer=True)
    if scheduler is not None or dask_local is not None:
        _import_distributed()  # a missing Dask is refused before anything is written


class Executor:
    """The interface of the three executors (see the module docstring)."""

    def imap(self, fn: Callable, items: Iterable, on_message: Optional[Callable] = None
             ) -> Iterator[Outcome]:
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


class SerialExecutor(Executor):
    """Runs each task in this process, in order, when the outcomes are read."""

    def __init__(self, shared=None):
        self.shared = shared

    def imap(self, fn, items, on_message=None):
        ctx = TaskContext(self.shared, on_message)
        for i, item in enumerate(items):
            try:
                yield Outcome(i, fn(item, ctx), None)
            except Exception as e:  # noqa: BLE001 - the caller decides (record or raise)
                yield Outcome(i, None, e)


# the process executor's worker side: set once per process by the pool's initializer
_WORKER_SHARED: dict = {}


def _init_worker(shared, messages) -> None:
    _WORKER_SHARED["shared"], _WORKER_SHARED["messages"] = shared, messages


def _run_in_worker(fn, i, item):
    q = _WORKER_SHARED["messages"]
    return fn(item, TaskContext(_WORKER_SHARED["shared"], None if q is None else q.put))


class ProcessExecutor(Executor):
    """A spawn-context ``ProcessPoolExecutor`` of ``workers`` processes started with
    :data:`WORKER_ENV`; ``shared`` reaches each process once, through its initializer."""

    def __init__(self, workers: int, shared=None):
        self.workers, self.shared = workers, shared
        self.pool = None

    def imap(self, fn, items, on_message=None):
        ctx = multiprocessing.get_context("spawn")
        messages = ctx.Queue() if on_message is not None else None
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                        initializer=_init_worker, initargs=(self.shared, messages))
        pending = {}
        for i, item in enumerate(items):
            with worker_env():  # spawned children inherit the environment of the moment
                pending[self.pool.submit(_run_in_worker, fn, i, item)] = i

        def deliver():
            while messages is not None:
                try:
                    on_message(messages.get_nowait())
                except queue_mod.Empty:
                    return

        while pending:
            done, _ = wait(pending, timeout=MESSAGE_POLL_S if messages is not None else None,
                           return_when=FIRST_COMPLETED)
            deliver()
            for f in done:
                i = pending.pop(f)
                try:
                    yield Outcome(i, f.result(), None)
                except Exception as e:  # noqa: BLE001 - raised by the task or its dead worker
                    yield Outcome(i, None, e)
        self.pool.shutdown(wait=True)  # workers exit, flushing what they put on the queue
        deliver()

    def close(self, cancel=False):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError('Dask executors need dask.distributed: pip install "localrnn[dask]"') from None
    return distributed


def local_dask_client(n_workers: int):
    """A Dask ``Client`` on a new ``LocalCluster`` of ``n_workers`` single-threaded
    worker processes started with :data:`WORKER_ENV` (what ``--dask-local N`` uses).

    Close both when done: ``client.close(); client.cluster.close()``.
    """
    n = check_number("dask_local", n_workers, lo=1, integer=True)
    distributed = _import_distributed()
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       env=dict(WORKER_ENV), dashboard_address=":0")
    return distributed.Client(cluster)


def _run_on_dask(fn, item, shared):
    return fn(item, TaskContext(shared, None))


class DaskExecutor(Executor):
    """Tasks on a Dask cluster: an existing ``client``, a ``scheduler`` address, or a new
    local cluster of ``dask_local`` workers; ``shared`` is scattered to every worker once.
    Results return to the client, so workers need no shared file system."""

    def __init__(self, scheduler=None, dask_local: Optional[int] = None, client=None, shared=None):
        distributed = _import_distributed()
        self._own = []
        if client is not None:
            self.client = client
        elif scheduler is not None:
            try:
                self.client = distributed.Client(scheduler)
            except (OSError, TimeoutError, ValueError) as e:
                raise ValueError(f"scheduler={scheduler!r}: cannot connect ({one_line(e)}); give the "
                                 "address 'dask scheduler' prints, e.g. tcp://HOST:8786") from None
            self._own.append(self.client)
        else:
            self.client = local_dask_client(dask_local)
            self._own += [self.client, self.client.cluster]
        self._distributed = distributed
        self.shared = None if shared is None else self.client.scatter(shared, broadcast=True)

    def imap(self, fn, items, on_message=None):
        futures = {self.client.submit(_run_on_dask, fn, item, self.shared, pure=False): i
                   for i, item in enumerate(items)}
        for f in self._distributed.as_completed(list(futures)):
            try:
                yield Outcome(futures[f], f.result(), None)
            except Exception as e:  # noqa: BLE001 - raised by the task or lost with its worker
                yield Outcome(futures[f], None, e)

    def close(self, cancel=False):
        for obj in self._own:
            obj.close()


def open_executor(workers: int = 1, scheduler=None, dask_local: Optional[int] = None,
                  shared=None) -> Executor:
    """The executor asked for (validated by :func:`check_executor`); use it in ``with``.

    Parameters
    ----------
    workers : int
        Local processes (spawn context); 1 runs the tasks in this process.
    scheduler : str or distributed.Client, optional
        Address of a Dask scheduler (``tcp://host:8786``) or a connected client.
    dask_local : int, optional
        Start a Dask ``LocalCluster`` with this many single-threaded worker processes.
    shared : object, optional
        Given to every task as ``ctx.shared``, sent to each worker once.
    """
    check_executor(workers, scheduler, dask_local)
    if scheduler is not None:
        if not isinstance(scheduler, str):
            return DaskExecutor(client=scheduler, shared=shared)  # a distributed.Client
        return DaskExecutor(scheduler=scheduler, shared=shared)
    if dask_local is not None:
        return DaskExecutor(dask_local=dask_local, shared=shared)
    return SerialExecutor(shared) if workers == 1 else ProcessExecutor(workers, shared)


__all__ = ["open_executor", "check_executor", "Executor", "SerialExecutor", "ProcessExecutor",
           "DaskExecutor", "TaskContext", "Outcome", "Progress", "local_dask_client", "worker_env", "one_line",
           "WORKER_ENV"]
