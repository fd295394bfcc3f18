"""Single saliency maps computed in a background thread, for the dashboard.

A page submits a map and returns at once; on its next runs it polls the job's
state (queued, running, done, failed) instead of blocking on the computation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dermviz.explain.precompute import default_params, load_or_compute
from dermviz.models.suite import Suite
from dermviz.store import params_key


@dataclass
class Job:
    """One map being computed in the background (see :class:`MapJobs`)."""

    key: tuple
    member: str
    image_id: str
    method: str
    params: dict[str, Any]
    state: str = "queued"  #: queued, running, done or failed
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None

    @property
    def elapsed(self) -> float:
        """Seconds running so far (or in all, once finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


class MapJobs:
    """Computes single maps in one background thread and remembers their state.

    For a dashboard: submitting returns at once, the page polls :meth:`job`.
    One thread, so jobs run one after the other (KernelSHAP's seeded sampling
    uses numpy's global RNG, which is not thread-safe) and TensorFlow's thread
    pool is not split between maps. Finished jobs are kept (their state is
    small) so a page can tell "done" from "never asked".
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dermviz-maps")
        self._jobs: dict[tuple, Job] = {}
        self._lock = threading.Lock()
        self._seconds: dict[tuple, list[float]] = {}

    @staticmethod
    def key(suite_path: str, member: str, image_id: str, method: str,
            params: dict[str, Any]) -> tuple:
        return (str(suite_path), member, image_id, method, params_key(params))

    def submit(
        self,
        suite: Suite,
        member: str,
        image_id: str,
        *,
        method: str,
        params: dict[str, Any],
        model: Any = None,
        dataset: Any = None,
    ) -> Job:
        """Queue one map (no-op while it is queued or running).

        A map already in the store costs one store read.
        """
        params = default_params(suite, method, **params)
        key = self.key(str(suite.path), member, image_id, method, params)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state in ("queued", "running"):
                return job
            job = Job(key, member, image_id, method, params)
            self._jobs[key] = job
        self._pool.submit(self._run, job, suite, model, dataset)
        return job

    def _run(self, job: Job, suite: Suite, model: Any, dataset: Any) -> None:
        job.started, job.state = time.time(), "running"
        try:
            load_or_compute(suite, job.member, job.image_id, method=job.method,
                            params=job.params, model=model, dataset=dataset)
        except Exception as exc:  # shown on the page
            job.error = f"{type(exc).__name__}: {exc}"
            job.state = "failed"
        else:
            job.state = "done"
            with self._lock:
                self._seconds.setdefault(self._cost_key(job), []).append(job.elapsed)
        finally:
            job.finished = time.time()

    @staticmethod
    def _cost_key(job: Job) -> tuple:
        return job.key[0], job.method, job.key[4]

    def job(self, suite_path: str, member: str, image_id: str, method: str,
            params: dict[str, Any]) -> Job | None:
        """The job for this map, or None if it was never submitted."""
        return self._jobs.get(self.key(suite_path, member, image_id, method, params))

    def expected_seconds(self, job: Job) -> float | None:
        """Median time of the finished jobs with the same suite, method and parameters."""
        with self._lock:
            times = sorted(self._seconds.get(self._cost_key(job), []))
        return times[len(times) // 2] if times else None

    def active(self) -> list[Job]:
        """Jobs queued or running."""
        with self._lock:
            return [j for j in self._jobs.values() if j.state in ("queued", "running")]

    def forget(self, jobs: Iterable[Job]) -> None:
        """Drop finished jobs (e.g. failed ones, so they can be retried)."""
        with self._lock:
            for j in jobs:
                if j.state in ("done", "failed"):
                    self._jobs.pop(j.key, None)

