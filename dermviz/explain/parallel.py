"""Where saliency maps get computed: in this process, a process pool, Ray, or a background thread.

The unit of work is a :class:`ChunkTask`: a suite, one of its members, a few image
ids, a method and its parameters. :func:`run_chunk` does one: it loads the suite's
data set and the member's model (once per process, see :class:`WorkerCache`),
explains the images and writes them to the suite's map store itself (atomic
writes), then returns counts. A task travels to pool and Ray workers pickled, the
suite with it (its folder and manifest). The same function runs

* in the calling process (``workers=1``),
* in ``concurrent.futures.ProcessPoolExecutor`` workers started with the
  ``"spawn"`` context (TensorFlow is not fork-safe), see :func:`run_local_pool`,
* as Ray tasks, see :func:`run_ray` (Ray is optional: ``pip install "ray[default]"``).

The dashboard's background computation of single maps is :mod:`dermviz.explain.jobs`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermviz.data.dataset import Dataset
from dermviz.explain.base import make_explainer
from dermviz.explain.cache import MapCache
from dermviz.models.suite import Suite

RAY_INSTALL_HINT = 'pip install "ray[default]"'


class MissingDependencyError(RuntimeError):
    """An optional package a backend needs is not installed."""


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class ChunkTask:
    """Explain ``image_ids`` for one member and write the maps to the store.

    Attributes
    ----------
    suite : Suite
    member : str
    image_ids : tuple of str
    method : str
        A registered method name.
    params : dict
        The full (canonical) parameter set: the store key.
    batch_size : int
        Images per explainer call and per store write.
    intra_threads, inter_threads : int or None
        TensorFlow thread pools for the process that runs the task, applied
        before its first TensorFlow op; None leaves TensorFlow's defaults.
    """

    suite: Suite
    member: str
    image_ids: tuple[str, ...]
    method: str
    params: dict[str, Any] = field(hash=False)
    batch_size: int = 32
    intra_threads: int | None = None
    inter_threads: int | None = None


@dataclass(frozen=True)
class ChunkResult:
    """What :func:`run_chunk` did."""

    member: str
    n_images: int
    seconds: float
    pid: int


class WorkerCache:
    """Per-process data sets and models of suites (keyed by folder), so a worker loads
    each once.

    Parameters
    ----------
    max_models : int
        Models kept at once (least recently used dropped first). Work is ordered
        member by member, so 2 covers the switch from one member to the next.
    suite_models : bool
        Take each model from the suite object itself (:meth:`Suite.model`, which keeps
        every member it loads) instead: for a serial run whose caller goes on with the
        same suite object and its models.
    """

    def __init__(self, max_models: int = 2, *, suite_models: bool = False) -> None:
        self.max_models = int(max_models)
        self.suite_models = suite_models
        self.datasets: dict[Path, Dataset] = {}
        self.models: OrderedDict[tuple[Path, str], Any] = OrderedDict()

    def add_dataset(self, suite: Suite, dataset: Dataset) -> None:
        """Use ``dataset`` (already loaded by the caller) for ``suite``."""
        self.datasets[suite.path] = dataset

    def dataset(self, suite: Suite) -> Dataset:
        if suite.path not in self.datasets:
            self.datasets[suite.path] = suite.dataset()
        return self.datasets[suite.path]

    def model(self, suite: Suite, member: str) -> Any:
        if self.suite_models:
            return suite.model(member)
        key = (suite.path, member)
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        while len(self.models) >= max(1, self.max_models):
            self.models.popitem(last=False)
        model = suite.load_model(member)
        self.models[key] = model
        return model


#: The cache of a worker process (pool worker or Ray worker).
_PROCESS_CACHE = WorkerCache()
_THREADS_CONFIGURED = False


def thread_split(workers: int, cores: int | None = None) -> tuple[int, int]:
    """TensorFlow (intra-op, inter-op) threads per worker when ``workers`` share ``cores``."""
    cores = cores if cores is not None else available_cores()
    intra = max(1, cores // max(1, workers))
    return intra, (1 if intra == 1 else 2)


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure_threads(intra: int | None, inter: int | None) -> None:
    """Size this process's TensorFlow thread pools (once, before its first op).

    Sets ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` (and
    ``OMP_NUM_THREADS``) and the matching ``tf.config.threading`` options. A
    process whose TensorFlow context already exists keeps its pools.
    """
    global _THREADS_CONFIGURED
    if _THREADS_CONFIGURED or intra is None:
        return
    inter = inter if inter is not None else 1
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(intra)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
    os.environ["OMP_NUM_THREADS"] = str(intra)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # heavy, and only after the environment above is set

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # the context was initialised already: keep its pools
        pass
    _THREADS_CONFIGURED = True


def run_chunk(task: ChunkTask, cache: WorkerCache | None = None) -> ChunkResult:
    """Explain one chunk and store its maps; the task function of every backend.

    Parameters
    ----------
    task : ChunkTask
    cache : WorkerCache, optional
        Default: this process's cache (what pool and Ray workers use).
    """
    configure_threads(task.intra_threads, task.inter_threads)
    cache = cache if cache is not None else _PROCESS_CACHE
    t0 = time.perf_counter()
    suite = task.suite
    dataset = cache.dataset(suite)
    explainer = make_explainer(cache.model(suite, task.member), task.method, task.params)
    threshold = suite.threshold(task.member)
    maps_cache = MapCache.of(suite)
    n = 0
    for ids, images in dataset.iter_batches(list(task.image_ids), size=suite.image_size,
                                            batch_size=task.batch_size):
        maps = explainer.explain(images, threshold=threshold)
        maps_cache.put(task.member, ids, maps)
        n += len(ids)
    return ChunkResult(task.member, n, time.perf_counter() - t0, os.getpid())


def make_tasks(
    suite: Suite,
    todo: dict[str, list[str]],
    *,
    method: str,
    params: dict[str, Any],
    chunk_size: int,
    batch_size: int,
    threads: tuple[int, int] | None = None,
) -> list[ChunkTask]:
    """Work items, member by member, ``chunk_size`` image ids each."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    intra, inter = threads if threads is not None else (None, None)
    return [
        ChunkTask(suite, member, tuple(ids[k : k + chunk_size]), method, params,
                  batch_size, intra, inter)
        for member, ids in todo.items()
        for k in range(0, len(ids), chunk_size)
    ]


# ----------------------------------------------------------------------------- backends


def run_serial(
    tasks: Sequence[ChunkTask], cache: WorkerCache | None = None
) -> Iterator[ChunkResult]:
    """Run the tasks one after the other in this process."""
    cache = cache if cache is not None else WorkerCache(max_models=1)
    for task in tasks:
        yield run_chunk(task, cache)


def _init_pool_worker() -> None:
    # Ctrl-C reaches the whole process group; the parent stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_local_pool(tasks: Sequence[ChunkTask], workers: int) -> Iterator[ChunkResult]:
    """Run the tasks in ``workers`` spawned processes, yielding results as they finish.

    A failing task stops the pool (queued tasks are cancelled) and re-raises.
    On interruption the workers are terminated: the chunks in flight are lost,
    everything already written stays in the store. As with any spawn-context
    pool, a script that calls this must guard its entry point with
    ``if __name__ == "__main__":``.
    """
    if not tasks:
        return
    workers = max(1, min(int(workers), len(tasks)))
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_pool_worker
    )
    clean = False
    try:
        pending: set[Future] = {executor.submit(run_chunk, t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        else:
            procs = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=10)


def import_ray() -> Any:
    """``import ray``, or a :class:`MissingDependencyError` saying how to install it."""
    try:
        import ray  # optional and heavy: only the ray backend needs it
    except ImportError:
        raise MissingDependencyError(
            f"the ray backend needs Ray, which is not installed; install it with "
            f"`{RAY_INSTALL_HINT}` (the dermviz `ray` extra), or use --backend local"
        ) from None
    return ray


def run_ray(
    tasks: Sequence[ChunkTask], workers: int, *, address: str | None = None
) -> Iterator[ChunkResult]:
    """Run the tasks as Ray tasks (the same :func:`run_chunk`), yielding results as they finish.

    Parameters
    ----------
    workers : int
        Local Ray: the CPUs Ray is started with (one task per CPU). On a
        cluster the cluster's resources decide.
    address : str, optional
        A running cluster (``"auto"``, ``"ray://host:10001"``); default: start
        Ray in this machine.

    Notes
    -----
    Every task asks for ``intra_threads`` CPUs, so Ray does not oversubscribe
    the cores that TensorFlow will use. Ray reuses worker processes, so the
    per-process model cache works as in the local pool.
    """
    ray = import_ray()
    if not tasks:
        return
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, int(workers)) * (tasks[0].intra_threads or 1),
                     log_to_driver=False)
    remote = ray.remote(num_cpus=tasks[0].intra_threads or 1, max_retries=1)(run_chunk)
    pending = [remote.remote(t) for t in tasks]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
