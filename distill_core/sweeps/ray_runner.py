"""The Ray runner: a sweep's teacher preparation and trials as Ray tasks on a cluster (Ray schedules, places and
retries them; nothing here is a scheduler).

- `runner.address`: "auto" or "HOST:PORT" (a cluster started with `ray start --head`), "ray://HOST:10001" (Ray
  Client), or None to start a Ray instance on this machine.
- Each task asks for the CPUs/GPUs its config needs (`resources`); a trial whose worker process or node dies is
  re-run up to `runner.retries` times by Ray, then marked failed; the other trials go on.
- Tasks work with `runner.storage` as their data folder (the driver's data folder when None): the teacher prepared
  once there is a cache hit for every trial that shares it. Give a path every node can reach on a multi-node cluster.
- A trial trains into a temporary folder on its node and returns its results and the folder (a tar archive);
  the driver unpacks it into the local run store, so the trial is an ordinary run (Compare, Playground, report).
- The trial rows stand for remote work: the driver beats their heartbeat, and cancelling one (or the sweep)
  cancels its Ray task (`ray.cancel(force=True)`).
- Each trial task writes `sweeps/<id>/ray-workers/<run id>.json` (host, pid) under the storage folder when it starts,
  so an operator (or the fault test) can find the process running it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
from pathlib import Path

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.home import data_home
from distill_core.runs import store, worker
from distill_core.sweeps import records
from distill_core.sweeps.spec import Runner, SweepSpec, Trial, teacher_groups

POLL_S = 1.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise DistillLabError("Ray is not installed here: `pip install 'ray>=2.40'` (scripts/setup.sh installs it)",
                              "runner.kind") from None
    return ray


def resources(runner: Runner, config) -> tuple[float, float]:
    """(CPUs, GPUs) one trial asks Ray for: the runner's settings, else the config's threads x processes (1 CPU
    when threads is 0: auto) and one GPU per process when the config's device is cuda."""
    cpus = runner.cpus_per_trial if runner.cpus_per_trial is not None else max(1, config.threads) * config.processes
    if runner.gpus_per_trial is not None:
        gpus = runner.gpus_per_trial
    else:
        gpus = float(config.processes) if config.device == "cuda" else 0.0
    return float(cpus), float(gpus)


# --- what runs on the nodes -------------------------------------------------------------------------------------

def _use_storage(storage: str) -> None:
    os.environ["DISTILL_LAB_HOME"] = storage


def prepare_on_node(config: dict, storage: str, sweep_id: str, group: int) -> dict:
    """A Ray task: prepare the teacher of `config` into the storage folder's caches."""
    _use_storage(storage)
    from distill_core.core import config as config_mod
    from distill_core.runs.pipeline import prepare_teacher

    work = Path(storage) / "sweeps" / sweep_id / f"teacher-{group}"
    return prepare_teacher(config_mod.from_dict(config), work) | {"host": socket.gethostname()}


class QueueRecorder(worker.ProgressRecorder):
    """on_progress for a trial on a node: the same events a local worker writes (phase changes, evaluations and
    messages always, other steps at most every EVENT_MIN_GAP_S), put on a Ray queue the driver drains into the
    store, so the Runs page follows a Ray trial live."""

    def __init__(self, run_id: str, queue):
        super().__init__(run_id)
        self.queue = queue

    def _write(self, data: dict) -> None:
        self.pending = None
        self.last_write = time.monotonic()
        try:
            self.queue.put_nowait((self.run_id, data))
        except Exception:  # a full or lost queue costs the live curve, never the trial
            pass


def trial_on_node(config: dict, storage: str, sweep_id: str, run_id: str, events=None) -> dict:
    """A Ray task: one trial, trained into a temporary folder; returns {"results", "archive" (tar bytes of the run
    folder), "host", "pid"}. `events`: a ray.util.queue.Queue for its progress events (None: none sent)."""
    _use_storage(storage)
    from distill_core.core import config as config_mod
    from distill_core.runs.pipeline import run_experiment

    where = Path(storage) / "sweeps" / sweep_id / "ray-workers"
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{run_id}.json").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                                      "started": time.time()}))
    scratch = Path(tempfile.mkdtemp(prefix=f"distill-lab-{run_id}-"))
    try:
        folder = scratch / run_id
        recorder = QueueRecorder(run_id, events) if events is not None else None
        results = run_experiment(config_mod.from_dict(config), folder, on_progress=recorder)
        if recorder is not None:
            recorder.flush()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:  # uncompressed: weights barely compress
            tar.add(folder, arcname=".")
        return {"results": results, "archive": buffer.getvalue(), "host": socket.gethostname(), "pid": os.getpid()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- the driver's side ------------------------------------------------------------------------------------------

def unpack(archive: bytes, run_id: str) -> None:
    """Extract a trial's folder into its run folder (tarfile's "data" filter refuses absolute paths, links out
    and `..`)."""
    target = store.run_dir(run_id)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(target, filter="data")


def use_token_auth() -> None:
    """Clusters started with `ray start` use token authentication (Ray 2.5x), but a client given an explicit
    address assumes none and is refused: when the user set no RAY_AUTH_MODE and a token is at hand (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which `ray start` writes), present it."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.exists():
        os.environ["RAY_AUTH_MODE"] = "token"


def _connect(ray, runner: Runner) -> None:
    try:
        if runner.address:
            ray.init(address=runner.address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DistillLabError(f"could not reach the Ray cluster at {runner.address or 'a new local instance'}: "
                              f"{first}", "runner.address") from None


def _failure(ray, exc: Exception, retries: int) -> str:
    """A readable reason for a trial's Ray error."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, DistillLabError):
            return str(cause)
        return f"{type(cause).__name__ if cause else 'error'}: {cause or exc}".splitlines()[0]
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.LocalRayletDiedError)):
        return (f"the Ray worker running this trial died ({type(exc).__name__}), "
                f"also after {retries} retr{'y' if retries == 1 else 'ies'}")
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _wait(ray, ref, sweep_id: str):
    """ray.get(ref), cancelling the task when the sweep is cancelled (RunCancelled)."""
    while True:
        ready, _ = ray.wait([ref], timeout=POLL_S)
        if ready:
            return ray.get(ref)
        if records.cancel_requested(sweep_id):
            ray.cancel(ref, force=True)
            raise RunCancelled("cancelled while preparing the teacher")


def run(sweep_id: str, spec: SweepSpec, trials: list[Trial], owner: str | None, beat) -> None:
    """Prepare the teacher(s), run every trial on the cluster, record each trial's outcome in the local store."""
    runner = spec.runner
    if runner.address:
        use_token_auth()  # before ray is imported: it reads the mode then
    ray = import_ray()
    storage = str(Path(runner.storage).expanduser() if runner.storage else data_home())
    records.update(sweep_id, message=f"connecting to Ray ({runner.address or 'a new local instance'})")
    _connect(ray, runner)
    try:
        prepare = ray.remote(prepare_on_node)
        train = ray.remote(trial_on_node)
        groups = teacher_groups(trials)
        for i, group in enumerate(groups):
            cpus, gpus = resources(runner, group[0].config)
            records.update(sweep_id, message=f"preparing the teacher once for {len(group)} trial(s) on Ray "
                                             f"({i + 1} of {len(groups)})")
            ref = prepare.options(num_cpus=cpus, num_gpus=gpus, max_retries=runner.retries).remote(
                group[0].config.to_dict(), storage, sweep_id, i + 1)
            info = _wait(ray, ref, sweep_id)
            print(f"teacher group {i + 1} prepared on {info.get('host')} in {info['seconds']:.1f} s", flush=True)
        from ray.util.queue import Queue

        events = Queue(maxsize=10_000, actor_options={"num_cpus": 0})
        pending = {}
        for trial in trials:
            if records.cancel_requested(sweep_id):
                break
            cpus, gpus = resources(runner, trial.config)
            config = trial.config if trial.config.threads else trial.config.replace(threads=max(1, int(cpus)))
            record = store.create_run(config.to_dict(), name=config.name, pid=os.getpid(), owner=owner,
                                      sweep=sweep_id, trial=trial.index)
            beat.runs.add(record.id)
            store.start_elsewhere(record.id, os.getpid(), f"on the Ray cluster ({cpus:g} CPU, {gpus:g} GPU)")
            ref = train.options(num_cpus=cpus, num_gpus=gpus, max_retries=runner.retries,
                                retry_exceptions=False).remote(config.to_dict(), storage, sweep_id, record.id,
                                                               events)
            pending[ref] = record.id
        records.update(sweep_id, status="running", message=f"{len(pending)} trial(s) on the Ray cluster")
        _collect(ray, sweep_id, pending, runner.retries, beat, events)
    finally:
        ray.shutdown()


def drain(events) -> int:
    """Write the trials' queued progress events into the store (runs since deleted are skipped); returns how many."""
    batch = events.get_nowait_batch(events.qsize()) if events.qsize() else []
    for run_id, data in batch:
        if store.run_exists(run_id):
            store.record_event(run_id, data, worker.overall_progress(data["phase"], data["fraction"]))
    return len(batch)


def _collect(ray, sweep_id: str, pending: dict, retries: int, beat, events) -> None:
    """Wait for the trials' tasks, recording their progress events and each outcome as it lands; cancel tasks whose
    run (or sweep) is."""
    total = len(pending)
    stopped: set = set()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        drain(events)
        for ref in ready:
            run_id = pending.pop(ref)
            beat.runs.discard(run_id)  # its outcome is recorded now (or it was deleted)
            try:
                payload = ray.get(ref)
                if not store.run_exists(run_id):  # deleted (with its sweep) meanwhile: bring nothing back
                    continue
                unpack(payload["archive"], run_id)
                store.finish(run_id, "done", summary=worker.summarize(payload["results"]))
            except ray.exceptions.TaskCancelledError:
                store.finish(run_id, "cancelled", error="cancelled (its Ray task was stopped)")
            except ray.exceptions.RayError as exc:
                store.finish(run_id, "failed", error=_failure(ray, exc, retries))
            except Exception as exc:  # a folder that cannot be unpacked, a full disk: this trial, not the sweep
                store.finish(run_id, "failed", error=f"could not bring the trial back: {type(exc).__name__}: {exc}")
        sweep_cancelled = records.cancel_requested(sweep_id)
        for ref, run_id in pending.items():
            if ref not in stopped and (sweep_cancelled or store.cancel_requested(run_id)):
                ray.cancel(ref, force=True)
                stopped.add(ref)
        records.update(sweep_id, message=f"{total - len(pending)} of {total} trial(s) ended on Ray")
