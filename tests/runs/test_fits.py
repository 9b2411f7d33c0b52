"""Independent trainings of a run at once (runs/fits.py): the same results as one after another, cancels and
failures of a child reported like the run's own."""

import os
import time

import numpy as np
import pytest
from safetensors.torch import load_file

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.runs import fits
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.base import RunContext
from tests.support.workers import long_config


def _at_once(monkeypatch, workers=2):
    """Run a run's independent trainings `workers` at a time whatever this machine's cores (the tiny config pins one
    torch thread, so the parent computes exactly what it computes one after another)."""
    monkeypatch.setattr(fits, "workers_for", lambda ctx, n: min(workers, n))


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_trainings_at_once_give_the_same_models_and_numbers_as_one_after_another(tiny_config, tmp_path, monkeypatch):
    config = tiny_config.replace(seeds=3, learning_rate_candidates=[1e-3, 5e-3])
    one = run_experiment(config, tmp_path / "one")
    events = []
    _at_once(monkeypatch)
    both = run_experiment(config, tmp_path / "both", on_progress=events.append)

    assert one["training"]["trainings_at_once"] == 1 and both["training"]["trainings_at_once"] == 2
    assert both["training"]["seeds"] == one["training"]["seeds"]  # per-seed accuracy and steps, all three seeds
    # Every rate and score to the bit; the validation loss (a tie-break) only to bf16 rounding: a child's validation
    # passes round differently from the parent's (the weights and accuracies stay equal to the bit).
    rates_one, rates_both = one["training"]["learning_rates"], both["training"]["learning_rates"]
    for phase in ("student", "control"):
        assert rates_both[phase]["chosen"] == rates_one[phase]["chosen"]
        for a, b in zip(rates_both[phase]["trials"], rates_one[phase]["trials"], strict=True):
            assert {k: v for k, v in a.items() if k != "validation_loss"} == \
                {k: v for k, v in b.items() if k != "validation_loss"}
            assert a["validation_loss"] == pytest.approx(b["validation_loss"], rel=1e-3)
    assert both["quality"]["gain"] == one["quality"]["gain"]
    for phase in ("student", "control"):
        a, b = _weights(tmp_path / "one" / phase), _weights(tmp_path / "both" / phase)
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a), phase
    history = (tmp_path / "both" / "history.json").read_text()
    assert all(f'"{key}"' in history for key in ("student", "student-lr-0.001", "student-lr-0.005",
                                                  "student-seed-1", "student-seed-2", "control-seed-2"))
    assert any("2 student trainings, 2 at once" in e.message for e in events)
    # Only one training's progress is passed on at a time: a live curve's steps never go back within one.
    steps = [e.step for e in events if e.phase == "student" and e.total]
    assert steps and all(b >= a or b <= 1 for a, b in zip(steps, steps[1:]))


def test_which_runs_train_at_once(monkeypatch, tiny_config, tmp_path):
    def ctx(device="cpu", threads=0):
        return RunContext(tiny_config.replace(threads=threads), tmp_path, device, 1, lambda e: None)

    monkeypatch.setattr(fits, "cpu_cores", lambda: 2)
    assert fits.workers_for(ctx(), 2) == 2 and fits.workers_for(ctx(), 5) == 2
    assert fits.workers_for(ctx(), 1) == 1  # nothing to run beside it
    assert fits.workers_for(ctx(threads=2), 2) == 1  # threads set by the user: one at a time, with those threads
    assert fits.workers_for(ctx(device="cuda"), 2) == 1
    monkeypatch.setattr(fits, "cpu_cores", lambda: 8)
    assert fits.workers_for(ctx(), 2) == 1  # more cores than trainings: each gets them all in turn
    assert fits.workers_for(ctx(), 8) == 8
    monkeypatch.setattr(fits, "cpu_cores", lambda: 1)
    assert fits.workers_for(ctx(), 4) == 1


def test_a_cancel_stops_every_training_at_once_and_keeps_the_first_seeds_student(tiny_teacher_dir, tmp_path,
                                                                                  monkeypatch):
    _at_once(monkeypatch)
    before = set(_children())  # a fork server or worker another test left running is not ours
    started = time.monotonic()
    with pytest.raises(RunCancelled) as info:
        run_experiment(long_config(tiny_teacher_dir).replace(seeds=2), tmp_path / "run",
                       should_stop=lambda: time.monotonic() - started > 6)
    assert "the partly trained student is saved" in info.value.message
    assert (tmp_path / "run" / "student" / "model.safetensors").exists()
    assert time.monotonic() - started < 60
    assert not set(_children()) - before, "no training process is left behind"


def _children() -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process().children(recursive=True) if c.is_running() and
            c.status() != psutil.STATUS_ZOMBIE]


def _failing_train(monkeypatch, seed: int, how):
    from distill_core.tasks.classification import run as steps

    real = steps.train

    def train(ctx, prepared, targets, phase, steps_):
        if ctx.config.seed == seed:
            how()
        return real(ctx, prepared, targets, phase, steps_)

    monkeypatch.setattr(steps, "train", train)


def test_a_training_process_that_dies_fails_the_run_naming_threads(tiny_config, tmp_path, monkeypatch):
    _at_once(monkeypatch)
    _failing_train(monkeypatch, 1, lambda: os._exit(9))  # as the kernel's OOM killer would
    with pytest.raises(DistillLabError) as info:
        run_experiment(tiny_config.replace(seeds=2), tmp_path / "run")
    assert info.value.field == "threads" and "(seed 1, learning rate 0.001) died (exit code 9)" in info.value.message


def test_a_childs_error_is_the_runs_error(tiny_config, tmp_path, monkeypatch):
    def refuse():
        raise DistillLabError("no room for this batch", "batch_size")

    _at_once(monkeypatch)
    _failing_train(monkeypatch, 1, refuse)
    with pytest.raises(DistillLabError) as info:
        run_experiment(tiny_config.replace(seeds=2), tmp_path / "run")
    assert (info.value.field, info.value.message) == ("batch_size", "no room for this batch")


_ORPHAN_SCRIPT = """
import sys
from distill_core.runs import fits
from distill_core.runs.pipeline import run_experiment
from tests.support.workers import long_config
fits.workers_for = lambda ctx, n: min(2, n)
run_experiment(long_config(sys.argv[1]).replace(seeds=2), sys.argv[2])
"""


def test_a_killed_run_takes_its_training_processes_with_it(tiny_teacher_dir, tmp_path):
    import signal
    import subprocess
    import sys

    import psutil

    run = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, str(tiny_teacher_dir), str(tmp_path / "run")],
                           cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, children = time.monotonic() + 120, []
        while len(children) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
            children = psutil.Process(run.pid).children()
        assert len(children) == 2, "two trainings at once"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, "no orphaned training keeps a core busy"
    finally:
        if run.poll() is None:
            run.kill()
