"""Sweeps and Monte-Carlo studies on Dask, with the same results as a serial run.

Two kinds of work in this package are embarrassingly parallel:

* the points of a parameter sweep (:func:`cfmimo.sweep.run_sweep`, ``python -m
  cfmimo.sweep GRID --workers N`` or ``--scheduler ADDRESS``): each point is one task that
  executes its notebook with papermill;
* the trials of the Monte-Carlo study (:func:`cfmimo.results.run_study` with ``client=``
  or ``workers=``): the trials of each distance are split into chunks of ``chunk_size``,
  each chunk is one task with its own seed.

This module holds what both need: a client for a local cluster or a running scheduler
(:func:`connect`), an ordered map with a progress bar over the workers
(:func:`map_ordered`), sending an object to every worker once (:func:`scatter_once`) and a
copy of an object whose random generators are reseeded (:func:`reseeded_copy`), which is
what makes a chunk's result independent of where, and after which other chunk, it ran.

Training stays serial: the models are trained (or read from the weight cache) in the
calling process and then sent to the workers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import pickle
import sys
import uuid

import cloudpickle
import numpy as np
from dask.distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

__all__ = [
    "CONNECT_TIMEOUT",
    "connect",
    "check_workers",
    "map_ordered",
    "scatter_once",
    "reseeded_copy",
    "chunk_sizes",
    "chunk_seed",
    "slurm_cluster",
]

CONNECT_TIMEOUT = 5.0
"""Seconds :func:`connect` waits for a scheduler before it gives up."""


def check_workers(workers) -> int:
    """``workers`` as an int >= 1, else ``TypeError``/``ValueError`` naming it."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"workers must be an integer >= 1, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers = {workers} must be >= 1")
    return int(workers)


@contextlib.contextmanager
def connect(*, workers=None, scheduler=None, timeout=None, announce=True):
    """A Dask client for a new local cluster or for a running scheduler; closed on exit.

    Parameters
    ----------
    workers : int, optional
        Start a :class:`distributed.LocalCluster` of this many worker *processes*, one
        thread each (the work is NumPy and notebook kernels, which do not share a GIL
        well).
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786`` (``dask scheduler``,
        ``dask_jobqueue.SLURMCluster().scheduler_address``). Exactly one of ``workers``
        and ``scheduler`` must be given.
    timeout : float, optional
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT`); an
        unreachable one raises ``ValueError`` after that long instead of hanging.
    announce : bool
        Print the number of workers and the dashboard address to stderr.

    Yields
    ------
    distributed.Client
    """
    if (workers is None) == (scheduler is None):
        raise ValueError("give exactly one of workers= (a local cluster) and scheduler= (an address)")
    cluster = None
    if workers is not None:
        workers = check_workers(workers)
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: never "8787 is already in use"
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        if not isinstance(scheduler, str) or not scheduler:
            raise TypeError(f"scheduler must be an address string such as 'tcp://host:8786', got {scheduler!r}")
        timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
        try:
            client = Client(scheduler, timeout=timeout)
        except Exception as exc:  # OSError, TimeoutError, ValueError on a malformed address
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ValueError(
                f"scheduler = {scheduler!r} could not be reached within {timeout:g} s ({detail}); "
                "start one with `dask scheduler`, or use --workers N for a local cluster"
            ) from None
    try:
        if announce:
            n = len(client.scheduler_info().get("workers", {}))
            print(f"dask: {n} worker(s) at {client.scheduler.address}; dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def scatter_once(client, obj):
    """Send ``obj`` to every worker once; returns a future to pass to tasks in its place.

    A dict or list is sent as one object (Dask would otherwise scatter its items).
    """
    [future] = client.scatter([obj], broadcast=True, hash=False)
    return future


def map_ordered(client, func, items, *, desc: str, unit: str = "task", progress: bool = True, **shared) -> list:
    """``[func(item, **shared) for item in items]`` on the cluster, in the order of ``items``.

    Each item is one task (never merged with an equal one). A task whose worker dies is
    rerun by Dask on another worker (up to ``distributed.scheduler.allowed-failures``
    times); an exception ``func`` raises is re-raised here. ``shared`` values may be
    futures from :func:`scatter_once`.

    Parameters
    ----------
    client : distributed.Client
    func : callable
        A module-level function (workers import it by name).
    items : sequence
    desc, unit : str
        Label of the progress bar, which counts finished tasks across all workers.
    progress : bool

    Returns
    -------
    list
        The results, ``len(items)`` of them.
    """
    items = list(items)
    if not items:
        return []
    token = uuid.uuid4().hex[:8]
    keys = [f"{desc}-{token}-{i}" for i in range(len(items))]
    futures = client.map(func, items, key=keys, pure=False, **shared)
    index = {f.key: i for i, f in enumerate(futures)}
    out = [None] * len(items)
    try:
        with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
            for future in as_completed(futures):
                out[index[future.key]] = future.result()
                bar.update()
    finally:
        client.cancel(futures)
    return out


class _ReseedingPickler(cloudpickle.Pickler):
    """Pickles every :class:`numpy.random.Generator` as a new one from a child of ``seed``."""

    def __init__(self, file, seed):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._seed = seed

    def reducer_override(self, obj):
        if isinstance(obj, np.random.Generator):
            return np.random.default_rng, (self._seed.spawn(1)[0],)
        return super().reducer_override(obj)


def reseeded_copy(obj, seed):
    """A deep copy of ``obj`` in which every NumPy ``Generator`` is new, seeded from ``seed``.

    The generators are reseeded in the (deterministic) order pickling meets them, each
    from the next child of ``seed``; one generator shared by several parts of ``obj``
    stays shared. A policy with internal randomness (the random baseline) therefore
    draws the same numbers for the same ``seed`` whichever process runs it and whatever
    it ran before, and draws independent numbers for different seeds.

    Parameters
    ----------
    obj : object
        Anything cloudpickle can pickle (lambdas and closures included).
    seed : numpy.random.SeedSequence
        Its children (spawn keys ``seed.spawn_key + (0,)``, ``+ (1,)``, ...) seed the
        generators; ``seed`` itself is not changed.

    Returns
    -------
    object
    """
    if not isinstance(seed, np.random.SeedSequence):
        raise TypeError(f"seed must be a numpy.random.SeedSequence, got {type(seed).__name__}")
    fresh = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)  # spawn() counts
    buffer = io.BytesIO()
    try:
        _ReseedingPickler(buffer, fresh).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise TypeError(f"obj must be picklable by cloudpickle to be copied with reseeded generators: {exc}") from None
    return pickle.loads(buffer.getvalue())


def chunk_sizes(n_trials: int, chunk_size: int) -> list[int]:
    """Split ``n_trials`` into chunks of ``chunk_size`` (the last one may be smaller).

    Depends on nothing but its arguments, in particular not on the number of workers.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size = {chunk_size} must be >= 1")
    n_chunks = math.ceil(n_trials / chunk_size)
    return [min(chunk_size, n_trials - c * chunk_size) for c in range(n_chunks)]


def chunk_seed(seed: int, *index: int) -> np.random.SeedSequence:
    """The seed of one chunk: a child of ``SeedSequence(seed)`` with spawn key ``index``.

    ``chunk_seed(seed, i, c)`` is what ``SeedSequence(seed).spawn(n)[i].spawn(m)[c]``
    would be, computed without spawning the others, so every chunk can be seeded alone.
    """
    return np.random.SeedSequence(seed, spawn_key=tuple(int(i) for i in index))


def slurm_cluster(*, jobs: int = 0, cores: int = 4, memory: str = "8GiB", walltime: str = "01:00:00", queue=None, account=None, prologue=(), **kwargs):
    """A :class:`dask_jobqueue.SLURMCluster` set up for this package (needs ``cfmimo[cluster]``).

    Each Slurm job runs ``cores`` worker processes of one thread each, with the Python of
    the calling environment (so the workers import the same ``cfmimo``). Creating the
    cluster starts its scheduler here and submits nothing; ``jobs > 0`` (or
    ``cluster.scale(jobs=...)``, ``cluster.adapt(...)`` later) submits the jobs with
    ``sbatch``. ``cluster.job_script()`` shows what would be submitted.

    Parameters
    ----------
    jobs : int
        Jobs to submit now (0: none).
    cores : int
        Cores, and worker processes, per job (``#SBATCH --cpus-per-task``).
    memory : str
        Memory per job (``#SBATCH --mem``), split between its workers.
    walltime : str
        ``HH:MM:SS`` per job (``#SBATCH -t``); workers are closed when it ends and Dask
        reruns their unfinished tasks elsewhere.
    queue, account : str, optional
        Slurm partition (``-p``) and account (``-A``).
    prologue : sequence of str
        Shell lines run before the worker starts, e.g. ``["module load python/3.11"]``.
    **kwargs
        Passed to ``SLURMCluster`` (e.g. ``job_extra_directives=["--qos=short"]``).

    Returns
    -------
    dask_jobqueue.SLURMCluster
    """
    # dask_jobqueue is deferred: it is the optional ``cluster`` extra, needed only on a
    # batch system; without it the rest of the module works and this names the extra.
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ImportError("slurm_cluster needs dask-jobqueue: pip install 'cfmimo[cluster]'") from None
    for name, value, low in (("jobs", jobs, 0), ("cores", cores, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer >= {low}, got {value!r}")
        if value < low:
            raise ValueError(f"{name} = {value} must be >= {low}")
    cluster = SLURMCluster(
        cores=int(cores),
        processes=int(cores),
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        python=sys.executable,
        job_script_prologue=list(prologue),
        scheduler_options={"dashboard_address": ":0", **kwargs.pop("scheduler_options", {})},
        **kwargs,
    )
    if jobs:
        cluster.scale(jobs=int(jobs))
    return cluster
