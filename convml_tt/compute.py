"""Running a step's independent tasks: in this process, in a local process pool, or on a dask cluster.

The data steps are made of independent, idempotent tasks: a scene's
composite, a block of triplets, the cutting of a chunk of a map's tiles.
Each task carries paths and settings (never arrays); whoever runs it opens
the files it needs, and every output is written atomically
(:func:`convml_tt._io.atomic_path`), so a task that a dying worker left
half-done leaves at most a temporary file and is simply run again.

:func:`iter_tasks` (and :func:`run_tasks`, its list) runs ``fn(task)`` for
every task and gives the results **in task order**, whatever the mode:

* ``workers=1`` (or None), no scheduler: in this process, one after the other;
* ``workers=K`` (K > 1): a local pool of K spawned processes (today's
  behaviour of ``--workers``): the workers exit with this process, even when
  it is SIGKILLed (:func:`convml_tt._io.die_with_parent`), SIGTERM or Ctrl-C
  stops the pool (:func:`convml_tt._io.stop_pool`), and when a worker dies
  (the pool breaks) the pool is started once more and the tasks not yet
  complete are submitted again;
* ``scheduler="tcp://host:port"`` (or the path of a dask ``scheduler.json``
  file), or ``client=distributed.Client(...)``: on a dask.distributed
  cluster. The scheduler re-runs the tasks of a worker that died; tasks that
  raise are retried ``retries`` times. ``distributed`` is imported only then
  (extra ``cluster``: ``pip install convml_tt[cluster]``).

State a task needs that is costly to build (an opened sampler, a labeler)
comes from ``setup(config)``, called once per worker process and config:
in the pool, as the initializer; on dask, by the first task a worker
process runs with that config (the pickled config travels with each task,
keyed by its SHA-256, so a worker that joins late or is restarted sets
itself up). ``config`` must be small (settings and paths) and ``fn`` and
``setup`` module-level functions (pickled by reference). Plugins loaded in
this process (:func:`convml_tt.registry.load_plugin`, CLI ``--plugin``)
are loaded in every worker process before its setup, so recipes, samplers
or labelers they define work there (registered recipes travel by name);
plugin files must be on storage the workers share. Entry-point plugins
are found by each process itself. A config that cannot be pickled is
refused before any work. On dask, tasks of
one worker process run one at a time (a lock: HDF5/netCDF4 is not
thread-safe); give workers one thread each (``--nthreads 1``) and as many
processes as cores. Worker processes undo the malloc setting dask gives
them (see :func:`_tune_malloc`), which otherwise costs +60 % CPU.

A tqdm progress bar counts the tasks (or the items they hold, ``sizes=``)
as they complete, in every mode; ``progress=False`` silences it.

:func:`compute_settings` checks the choice of a caller or the CLI
(``--workers``, ``--scheduler``) and gives one-line errors;
:func:`connect` (from :mod:`convml_tt._scheduler`) reaches a scheduler or fails within ``timeout``
seconds, every call bounded.
:func:`slurm_cluster` and :func:`sge_cluster` make dask-jobqueue clusters
with the defaults measured for the data steps (docs/cluster.md).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import numbers
import os
import pickle
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Callable, Iterator, Sequence

from ._io import die_with_parent, sigterm_raises, stop_pool
from ._scheduler import CONNECT_TIMEOUT, _check_address, _distributed, _nthreads, _warn_if_no_workers, connect
from .registry import load_plugins, loaded_plugins

__all__ = [
    "ComputeSettings",
    "compute_settings",
    "connect",
    "iter_tasks",
    "run_tasks",
    "session",
    "slurm_cluster",
    "sge_cluster",
    "CONNECT_TIMEOUT",
]

log = logging.getLogger(__name__)



# -----------------------------------------------------------------------------
# settings
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ComputeSettings:
    """Where a step's tasks run.

    ``workers``: processes on this machine (1: this process; None: 1, or
    none with a ``scheduler``; giving both is an error). ``scheduler``: a
    dask scheduler address ``tcp://host:port`` (``host:port`` gets ``tcp://``) or the path of a
    scheduler file (JSON, as ``dask scheduler --scheduler-file`` and
    dask-jobqueue write); None: no cluster. ``client``: a caller's own
    ``distributed.Client`` runs the tasks (given to the step as ``client=``).
    """

    workers: int | None = None
    scheduler: str | None = None
    client: bool = False

    def __post_init__(self) -> None:
        w, s = self.workers, self.scheduler
        if self.client:
            object.__setattr__(self, "workers", None)
            return
        if w is not None and (isinstance(w, bool) or not isinstance(w, numbers.Real) or not _is_whole(w)):
            raise TypeError(f"workers={w!r} must be a whole number of processes >= 1")
        if w is not None and int(w) < 1:
            raise ValueError(f"workers={w!r} must be >= 1 (1: in this process; K: K local processes)")
        if w is not None:
            object.__setattr__(self, "workers", int(w))
        if s is not None:
            if w is not None:
                raise ValueError(f"give workers ({w}) or a scheduler ({s!r}), not both: with a scheduler "
                                 f"the cluster's workers run the tasks (CLI: --workers or --scheduler)")
            object.__setattr__(self, "workers", None)
            object.__setattr__(self, "scheduler", _check_address(s))
        elif w is None:
            object.__setattr__(self, "workers", 1)

    @property
    def mode(self) -> str:
        """``"process"`` (this process), ``"pool"`` (local processes) or ``"dask"``."""
        if self.scheduler is not None or self.client:
            return "dask"
        return "pool" if (self.workers or 1) > 1 else "process"


def _is_whole(v: Any) -> bool:
    try:
        return float(v) == int(v)
    except (TypeError, ValueError, OverflowError):
        return False


def compute_settings(workers: int | None = None, scheduler: str | os.PathLike | None = None,
                     client: Any = None) -> ComputeSettings:
    """Check a step's ``workers`` / ``scheduler`` / ``client`` and return the
    :class:`ComputeSettings` (``client`` counts as a scheduler).

    Raises a one-line ``ValueError``/``TypeError`` for ``workers`` < 1 or not
    whole, both ``workers`` and a scheduler or client, both a scheduler and a
    client, or an address that is not one.
    """
    if client is not None:
        if scheduler is not None:
            raise ValueError(f"give scheduler={str(scheduler)!r} or client=, not both")
        if not callable(getattr(client, "submit", None)):
            raise TypeError(f"client={client!r} is not a distributed.Client (it has no submit method)")
        if workers is not None:
            raise ValueError(f"give workers ({workers}) or a dask client, not both: the cluster's workers "
                             f"run the tasks")
        return ComputeSettings(workers=None, client=True)
    return ComputeSettings(workers=workers, scheduler=None if scheduler is None else os.fspath(scheduler))


# -----------------------------------------------------------------------------
# dask
# -----------------------------------------------------------------------------
@contextlib.contextmanager
def _client_of(settings: ComputeSettings, client: Any) -> Iterator[Any]:
    if client is not None:
        _warn_if_no_workers(client)
        yield client
        return
    c = connect(settings.scheduler)
    _warn_if_no_workers(c)
    try:
        yield c
    finally:
        with contextlib.suppress(Exception):  # a scheduler gone meanwhile: closing is bounded too
            c.close(timeout=CONNECT_TIMEOUT)


@contextlib.contextmanager
def session(workers: int | None = None, scheduler: str | os.PathLike | None = None,
            client: Any = None) -> Iterator[tuple[dict, int]]:
    """Open where a step's tasks run, for several :func:`iter_tasks` calls
    or to size its tasks: yields ``(where, n_workers)``, ``where`` being the
    keywords to pass on (``{"workers": K}`` or ``{"client": client}``, the
    scheduler connected once and closed at the end) and ``n_workers`` the
    processes (pool), worker threads (dask) or 1 (this process)."""
    settings = compute_settings(workers, scheduler, client)
    if settings.mode != "dask":
        yield {"workers": settings.workers}, int(settings.workers or 1)
        return
    with _client_of(settings, client) as c:
        yield {"client": c}, max(1, sum(_nthreads(c).values()))


_WORKER_LOCK = threading.Lock()
_WORKER_KEY: str | None = None
#: configs larger than this (pickled, bytes) are scattered to the workers once
_SCATTER_BYTES = 64 * 1024
_MALLOC_TUNED = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def _tune_malloc() -> bool:
    """Undo the cost of dask's ``MALLOC_TRIM_THRESHOLD_=65536`` in this process.

    A dask nanny starts its workers with that variable (and sets it in its
    own process too, so that processes spawned from there, such as a later
    local pool, inherit it). Setting it turns off glibc's dynamic mmap
    threshold: every array above 128 KiB (a tile, a plane block) is then
    mmapped, page-faulted in and unmapped, which cost +60 % CPU per triplet
    here (sys time). Where the variable is set below 32 MiB and
    ``MALLOC_MMAP_THRESHOLD_`` is not, allocations up to 32 MiB come from the
    heap again and free memory above 64 MiB is still returned to the system
    (``mallopt``); once per process, glibc only. Returns whether it did."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return False
    _MALLOC_TUNED = True
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if not sys.platform.startswith("linux") or not trim or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        if int(trim) >= 32 * 2**20:
            return False
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20))
    except (ValueError, OSError, AttributeError):
        return False


def _dask_task(fn: Callable, setup: Callable | None, key: str, blob: bytes, task: Any,
               plugins: tuple[str, ...] = ()) -> Any:
    """One task on a dask worker: load the caller's plugins and set up this
    process for the config first (once per config), then ``fn(task)``; one
    task at a time per process."""
    global _WORKER_KEY
    with _WORKER_LOCK:
        _tune_malloc()
        load_plugins(plugins)  # once per process: a plugin loaded before is not run again
        if setup is not None and _WORKER_KEY != key:
            _WORKER_KEY = None
            setup(pickle.loads(blob))
            _WORKER_KEY = key
        return fn(task)


def _iter_dask(fn, tasks, setup, config, client, window, bar, sizes, retries) -> Iterator[Any]:
    distributed = _distributed()
    import cloudpickle

    blob = _pickled(config, cloudpickle.dumps)
    key = hashlib.sha256(blob).hexdigest()
    plugins = loaded_plugins()
    # a large config (a map's grid and chunk list) goes to every worker once, not with each task
    payload = client.scatter(blob, broadcast=True, hash=False) if len(blob) > _SCATTER_BYTES else blob
    n = len(tasks)
    futures: dict[Any, int] = {}
    results: dict[int, Any] = {}
    pending = None
    nxt = done = 0

    def fill() -> None:
        nonlocal nxt
        while nxt < n and len(futures) + len(results) < window:
            f = client.submit(_dask_task, fn, setup, key, payload, tasks[nxt], plugins, retries=retries, pure=False)
            futures[f] = nxt
            if pending is not None:
                pending.add(f)
            nxt += 1

    try:
        fill()
        pending = distributed.as_completed(list(futures), loop=client.loop)
        for f in pending:
            i = futures.pop(f)
            results[i] = f.result()  # a task's own exception, or KilledWorker after repeated deaths
            f.release()
            bar.update(sizes[i])
            while done in results:
                yield results.pop(done)
                done += 1
            fill()
    except BaseException:
        for f in list(futures):
            with contextlib.suppress(Exception):
                f.cancel()
        raise
    finally:
        if payload is not blob:
            with contextlib.suppress(Exception):
                payload.release()


# -----------------------------------------------------------------------------
# local process pool
# -----------------------------------------------------------------------------
def _pool_init(parent_pid: int, plugins: tuple[str, ...], setup: Callable | None, blob: bytes) -> None:
    """Initializer of a pool worker: exit with the parent, leave Ctrl-C to
    it, load the parent's plugins, then ``setup(config)`` (``blob``: the
    pickled config, read once the plugins its objects may come from are
    loaded)."""
    die_with_parent(parent_pid, ignore_sigint=True)
    _tune_malloc()
    load_plugins(plugins)
    if setup is not None:
        setup(pickle.loads(blob))


def _pickled(config: Any, dumps: Callable[[Any], bytes] = pickle.dumps) -> bytes:
    """``config`` pickled for worker processes, or a ``ValueError`` saying why
    it cannot be sent (before any work starts)."""
    try:
        return dumps(config)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise ValueError(f"the settings of these tasks cannot be sent to worker processes ({type(err).__name__}: "
                         f"{err}); register what they use (a recipe, sampler, labeler) in its registry, or "
                         f"define it at module level in a plugin file or module, or run in this process "
                         f"(workers=1)") from None


def _iter_pool(fn, tasks, setup, config, workers, window, bar, sizes, restarts) -> Iterator[Any]:
    blob = _pickled(config)  # before any worker starts: a config that cannot be sent is refused
    n = len(tasks)
    results: dict[int, Any] = {}
    complete: set[int] = set()
    done = 0
    broken = 0
    with sigterm_raises():
        while done < n:
            pool = ProcessPoolExecutor(max_workers=min(int(workers), n - done), mp_context=get_context("spawn"),
                                       initializer=_pool_init,
                                       initargs=(os.getpid(), loaded_plugins(), setup, blob))
            running: dict[Any, int] = {}
            nxt = done
            try:
                def fill() -> None:
                    nonlocal nxt
                    while nxt < n and len(running) + len(results) < window:
                        if nxt not in complete:
                            running[pool.submit(fn, tasks[nxt])] = nxt
                        nxt += 1

                fill()
                while running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    error = None
                    for f in finished:
                        i = running.pop(f)
                        if f.exception() is not None:
                            error = error or f.exception()
                            continue
                        results[i] = f.result()
                        complete.add(i)
                        bar.update(sizes[i])
                    if error is not None:
                        raise error
                    while done in results:
                        yield results.pop(done)
                        done += 1
                    fill()
                while done in results:  # (all submitted tasks were complete already)
                    yield results.pop(done)
                    done += 1
            except BrokenProcessPool as err:
                # a worker died (killed, out of memory): start the pool once more and
                # submit again what is not complete (tasks are idempotent, writes atomic)
                stop_pool(pool)
                broken += 1
                if broken > restarts:
                    raise RuntimeError(f"worker processes died {broken} times ({err}); the tasks that were "
                                       f"running are not complete: look for a task killed for memory "
                                       f"(dmesg) and rerun (completed work is kept)") from None
            except BaseException:
                # SIGTERM (Terminated), Ctrl-C, a failed task or the caller giving up: stop now
                stop_pool(pool)
                raise
            finally:
                pool.shutdown()


# -----------------------------------------------------------------------------
# the one entry point
# -----------------------------------------------------------------------------
def iter_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    setup: Callable[[Any], None] | None = None,
    config: Any = None,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "tasks",
    unit: str = "task",
    sizes: Sequence[int] | None = None,
    initial: int = 0,
    window: int | None = None,
    window_per_worker: int | None = None,
    retries: int = 1,
    restarts: int = 1,
) -> Iterator[Any]:
    """Run ``fn(task)`` for every task and yield the results in task order.

    Parameters
    ----------
    fn:
        a module-level function of one task.
    tasks:
        the tasks (small, picklable: paths, indices, settings).
    setup, config:
        ``setup(config)`` prepares a process for ``fn`` (module state), once
        per worker process (and, here, once before the first task).
    workers, scheduler, client:
        where the tasks run (see the module docstring and :func:`compute_settings`).
    progress, desc, unit:
        the progress bar over completed tasks (tqdm).
    sizes:
        what each task counts for on the bar (e.g. triplets per block); default 1.
    initial:
        already done before these tasks (the bar starts there).
    window:
        at most this many tasks submitted or done but not yet yielded (bounds
        the memory of large results, e.g. cut tiles); None: all at once.
    window_per_worker:
        instead of ``window``: this many per worker (pool processes, or the
        dask cluster's worker threads when the tasks start).
    retries:
        (dask) times a task that raised is run again.
    restarts:
        (pool) times the pool is started again after a worker died.
    """
    from tqdm.auto import tqdm

    settings = compute_settings(workers, scheduler, client)
    tasks = list(tasks)
    n = len(tasks)
    sizes = [1] * n if sizes is None else [int(s) for s in sizes]
    if len(sizes) != n:
        raise ValueError(f"sizes has {len(sizes)} entries for {n} tasks")
    for name, v in (("window", window), ("window_per_worker", window_per_worker)):
        if v is not None and (int(v) != v or v < 1):
            raise ValueError(f"{name}={v!r} must be a whole number >= 1 or None")
    window = n if window is None else int(window)
    bar = tqdm(total=initial + sum(sizes), initial=initial, desc=desc, unit=unit, disable=not progress)
    try:
        if n == 0:
            if settings.mode == "dask" and client is None:
                # nothing to run (all done before): the scheduler asked for is still checked, so
                # that a wrong or dead address is said now, not at the next run with work to do
                connect(settings.scheduler).close(timeout=CONNECT_TIMEOUT)
            return
        if settings.mode == "dask":
            with _client_of(settings, client) as c:
                if window_per_worker is not None:
                    window = int(window_per_worker) * max(1, sum(_nthreads(c).values()))
                yield from _iter_dask(fn, tasks, setup, config, c, window, bar, sizes, int(retries))
        elif settings.mode == "pool" and n > 1:
            if window_per_worker is not None:
                window = int(window_per_worker) * int(settings.workers)
            yield from _iter_pool(fn, tasks, setup, config, settings.workers, window, bar, sizes, int(restarts))
        else:
            if setup is not None:
                setup(config)
            for task, size in zip(tasks, sizes):
                result = fn(task)
                bar.update(size)
                yield result
    finally:
        bar.close()


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], **kwargs: Any) -> list:
    """:func:`iter_tasks` as a list (the results in task order)."""
    return list(iter_tasks(fn, tasks, **kwargs))


# -----------------------------------------------------------------------------
# HPC: dask-jobqueue clusters with the data steps' defaults
# -----------------------------------------------------------------------------
#: memory per single-threaded worker process of the data steps, GiB. Measured (docs/cluster.md):
#: peak RSS of a composite task 187 MiB (1000 km scene), of a block of 16 triplets of 256 px
#: 220 MiB, a dask worker after a run 240-260 MiB; 2 GiB leaves room for the triplet writer's
#: 512 MiB composite cache and composites of up to ~40 million pixels (~45 bytes a pixel).
WORKER_MEMORY_GIB = 2


def _jobqueue_kwargs(cores: int, processes: int | None, memory: str | None, walltime: str,
                     local_directory: str | None, kw: dict) -> dict:
    if int(cores) != cores or cores < 1:
        raise ValueError(f"cores={cores!r} must be a whole number >= 1 (cores per job)")
    processes = int(cores) if processes is None else int(processes)
    if not 1 <= processes <= cores:
        raise ValueError(f"processes={processes!r} must be between 1 and cores={cores}")
    if memory is None:
        memory = f"{WORKER_MEMORY_GIB * processes}GiB"
    out = dict(cores=int(cores), processes=processes, memory=memory, walltime=walltime)
    if local_directory is not None:
        out["local_directory"] = local_directory
    out.update(kw)
    return out


def slurm_cluster(cores: int = 8, processes: int | None = None, memory: str | None = None,
                  walltime: str = "01:00:00", local_directory: str | None = "${TMPDIR:-/tmp}", **kw: Any):
    """A ``dask_jobqueue.SLURMCluster`` for the data steps: jobs of ``cores``
    cores running ``processes`` single-threaded worker processes (default:
    one per core) with 2 GiB each (``memory``: per job, default 2 GiB x
    processes), worker spill files in ``local_directory`` (node-local
    scratch). Other keywords (``queue``, ``account``, ``job_extra_directives``,
    ``job_script_prologue``...) go to ``SLURMCluster``. Scale it with
    ``cluster.scale(jobs=N)`` and pass ``distributed.Client(cluster)`` as
    ``client=`` (or its ``cluster.scheduler_address`` as ``--scheduler``)."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(**_jobqueue_kwargs(cores, processes, memory, walltime, local_directory, kw))


def sge_cluster(cores: int = 8, processes: int | None = None, memory: str | None = None,
                walltime: str = "01:00:00", local_directory: str | None = "${TMPDIR:-/tmp}", **kw: Any):
    """A ``dask_jobqueue.SGECluster`` with the defaults of :func:`slurm_cluster`
    (``resource_spec``, e.g. ``"h_vmem=2G"``, and ``queue`` as ``SGECluster`` takes them;
    the parallel environment that gives a job ``cores`` slots is site-specific:
    ``job_extra_directives=["-pe smp 8"]``)."""
    from dask_jobqueue import SGECluster

    return SGECluster(**_jobqueue_kwargs(cores, processes, memory, walltime, local_directory, kw))
