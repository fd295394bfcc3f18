"""Where search trials run: one after another (or N at once) here, or on Ray.

Every trial is a fresh process (``python -m dermviz.models.search.trial SPEC``), whatever
the backend, so nothing a trial allocates outlives it. The search driver
(:mod:`dermviz.models.search.driver`) asks Optuna for hyperparameters, hands the trial
to a backend and records the result; the backends only run processes.

``local`` (default)
    ``workers`` trials at once (default 1, or one per GPU). On a CPU with several
    workers each trial gets ``cores // workers`` threads. On GPUs each worker is
    pinned to one GPU (``CUDA_VISIBLE_DEVICES``): one trial per GPU.
``ray``
    Trials are Ray tasks (``num_cpus``/``num_gpus`` per trial), on a local Ray
    instance or the cluster at ``--address``. Each task runs the same trial
    process. Storage and resume are the same as locally; on a multi-node cluster
    the suite folder must be on a file system that every node mounts at the same
    path, and the Optuna storage should be a server database (PostgreSQL/MySQL
    URL), not SQLite on a network file system.

GPU
---
Install the GPU build of TensorFlow instead of ``tensorflow-cpu``::

    python3 -m venv .venv && . .venv/bin/activate
    pip install -r requirements.txt
    pip uninstall -y tensorflow-cpu && pip install "tensorflow[and-cuda]==2.21.0"
    python -c "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"

(``tensorflow[and-cuda]`` brings CUDA and cuDNN as pip packages; only the NVIDIA
driver is needed on the host.) The repository's ``Dockerfile`` builds a GPU image
the same way: ``docker build --build-arg TENSORFLOW="tensorflow[and-cuda]==2.21.0"``,
then ``docker run --gpus all ...`` (README, "Container").

On a GPU each trial switches on memory growth, mixed precision (float16 compute,
float32 output; saved models are float32) and XLA (Keras' ``jit_compile="auto"``);
``--mixed-precision off`` / ``--xla off`` turn them off. GPUs are found with
``nvidia-smi`` (no TensorFlow in the driver); ``--gpus none`` ignores them.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRIAL_MODULE = "dermviz.models.search.trial"


@dataclass
class TrialJob:
    """What a backend runs: the trial module on a spec file, output to a log."""

    spec_path: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)


def detect_gpus() -> list[str]:
    """GPU ids visible to trials, from ``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])  # the folder holding dermviz/


def trial_command(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", TRIAL_MODULE, str(spec_path)]


def run_trial_process(job: TrialJob, *, extra_env: dict[str, str] | None = None,
                      register: Callable[[subprocess.Popen], None] | None = None) -> int:
    """Run one trial process to its end; returns its exit status."""
    env = dict(os.environ)
    env.update(job.env)
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_package_root(), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["DERMVIZ_TRIAL_PARENT"] = str(os.getpid())  # the trial dies with this process
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log_path, "ab") as log:
        proc = subprocess.Popen(trial_command(job.spec_path), stdout=log,
                                stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        if register is not None:
            register(proc)
        return proc.wait()


class LocalBackend:
    """Trials as child processes of this one, ``workers`` at a time.

    Parameters
    ----------
    workers : int, optional
        Trials at once; default 1, or the number of GPUs when there are any.
    gpus : list of str, optional
        GPU ids to pin workers to (default :func:`detect_gpus`); ``[]`` for none.
    run : callable, optional
        ``run(job, env) -> exit status`` replacing the trial process (tests).
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, gpus: list[str] | None = None,
                 run: Callable[[TrialJob, dict[str, str]], int] | None = None) -> None:
        self.gpus = detect_gpus() if gpus is None else list(gpus)
        if workers is None:
            workers = max(1, len(self.gpus))
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if self.gpus and workers > len(self.gpus):
            raise ValueError(f"{workers} workers for {len(self.gpus)} GPU(s): one trial per GPU")
        self.workers = workers
        self._run = run
        self._pool: ThreadPoolExecutor | None = None
        self._free: queue.Queue[str | None] = queue.Queue()
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self.workers

    def describe(self) -> dict[str, Any]:
        return {"backend": "local", "workers": self.workers, "gpus": self.gpus}

    def trial_threads(self) -> int | None:
        """Threads per trial on a CPU with several workers (None: TF's default)."""
        if self.gpus or self.workers == 1:
            return None
        return max(1, (os.cpu_count() or 1) // self.workers)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dermviz-trial")
        for k in range(self.workers):
            self._free.put(self.gpus[k] if self.gpus else None)

    def submit(self, job: TrialJob) -> Future:
        assert self._pool is not None, "start() the backend first"
        return self._pool.submit(self._work, job)

    def _work(self, job: TrialJob) -> int:
        gpu = self._free.get()
        try:
            env = {"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}
            if self._run is not None:
                return self._run(job, env)
            return run_trial_process(job, extra_env=env, register=self._register)
        finally:
            self._free.put(gpu)

    def _register(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs = {p for p in self._procs if p.poll() is None}
            self._procs.add(proc)

    def shutdown(self, *, kill: bool = False) -> None:
        if kill:
            with self._lock:
                for proc in self._procs:
                    if proc.poll() is None:
                        proc.kill()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _ray_trial(spec_path: str, log_path: str, env: dict[str, str]) -> int:
    """The Ray task: the same trial process, on whichever node Ray picked (the GPU
    Ray assigned is in this worker's ``CUDA_VISIBLE_DEVICES``)."""
    return run_trial_process(TrialJob(Path(spec_path), Path(log_path), env))


class RayBackend:
    """Trials as Ray tasks on a local instance or a cluster.

    Parameters
    ----------
    address : str, optional
        A running cluster (``ray://host:10001``, ``host:6379`` or ``auto``);
        default: start a local instance (stopped again at the end).
    cpus_per_trial, gpus_per_trial : float
        Ray resources per trial (default 1 CPU; 1 GPU when the cluster has GPUs).
    max_concurrent : int, optional
        Trials in flight at once (default: what the cluster's resources allow).
    init_kwargs : dict, optional
        More arguments to ``ray.init`` (e.g. ``num_cpus`` for a local instance).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_trial: float = 1.0,
                 gpus_per_trial: float | None = None, max_concurrent: int | None = None,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.max_concurrent = max_concurrent
        self.init_kwargs = dict(init_kwargs or {})
        self._started_here = False
        self._remote: Any = None
        self._capacity = 1
        self._refs: list[Any] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def describe(self) -> dict[str, Any]:
        return {"backend": "ray", "address": self.address, "cpus_per_trial": self.cpus_per_trial,
                "gpus_per_trial": self.gpus_per_trial, "capacity": self._capacity}

    def trial_threads(self) -> int | None:
        return max(1, int(self.cpus_per_trial)) if self.cpus_per_trial >= 1 else None

    def start(self) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray backend needs ray, which is not installed: pip install "
                               "'ray[default]==2.60.0' (the `ray` extra: pip install -e '.[ray]')"
                               ) from exc
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            ray.init(address=self.address, **kwargs)
            self._started_here = True
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        if self.gpus_per_trial is None:
            self.gpus_per_trial = 1.0 if gpus >= 1 else 0.0
        by_cpu = int(float(resources.get("CPU", 1)) // max(self.cpus_per_trial, 1e-9))
        by_gpu = int(gpus // self.gpus_per_trial) if self.gpus_per_trial else by_cpu
        self._capacity = max(1, min(by_cpu, by_gpu))
        if self.max_concurrent:
            self._capacity = min(self._capacity, self.max_concurrent)
        self._remote = ray.remote(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial,
                                  max_retries=0)(_ray_trial)

    def submit(self, job: TrialJob) -> Future:
        ref = self._remote.remote(str(job.spec_path), str(job.log_path), dict(job.env))
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, *, kill: bool = False) -> None:
        import ray

        if kill:
            for ref in self._refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished or gone
                    pass
        self._refs = []
        if self._started_here and ray.is_initialized():
            ray.shutdown()
            self._started_here = False


def make_backend(name: str, *, workers: int | None = None, address: str | None = None,
                 gpus: str = "auto") -> LocalBackend | RayBackend:
    """A backend from CLI options: ``local`` or ``ray``; ``gpus`` is ``auto``,
    ``none`` or a comma-separated id list."""
    gpu_list: list[str] | None
    if gpus == "auto":
        gpu_list = None
    elif gpus in ("none", ""):
        gpu_list = []
    else:
        gpu_list = [g.strip() for g in gpus.split(",") if g.strip()]
    if name == "local":
        if address:
            raise ValueError("--address is for --backend ray")
        return LocalBackend(workers, gpus=gpu_list)
    if name == "ray":
        gpt = 0.0 if gpu_list == [] else None
        return RayBackend(address, gpus_per_trial=gpt, max_concurrent=workers)
    raise ValueError(f"unknown backend {name!r}; choose 'local' or 'ray'")
