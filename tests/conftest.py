"""Shared fixtures: an isolated data folder, and a tiny classifier teacher built in the test session."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from tests.support.runs import QUICK_BENCH, make_tiny_classifier, tiny_run_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test writes under a temporary DISTILL_LAB_HOME, never the real data folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """A 4-layer, 32-wide BERT classifier over the labels great/other, saved once per test session."""
    return make_tiny_classifier(tmp_path_factory.mktemp("tiny-teacher"))


@pytest.fixture
def tiny_config(tiny_teacher_dir):
    return tiny_run_config(tiny_teacher_dir)


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch):
    """huggingface_hub reads HF_HUB_OFFLINE once, at import (often at collection, before isolated_home sets it):
    patch its constant too, so no test can reach the network."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


# Page tests (tests/ui) and the browser test share a finished, measured tiny run.



def _home_with_finished_run(tmp_path_factory, folder_name: str, config, measure):
    """A new data folder holding one `done` run of `config`, measured by `measure(run_folder)`."""
    from distill_core.runs import store, worker
    from distill_core.runs.pipeline import run_experiment

    home = tmp_path_factory.mktemp(folder_name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_LAB_HOME", str(home))
        record = store.create_run(config.to_dict())
        results = run_experiment(config, record.folder)
        measure(record.folder)
        store.finish(record.id, "done", summary=worker.summarize(results))
    return home


def _use_copy_of(home, tmp_path, monkeypatch) -> str:
    """Point DISTILL_LAB_HOME at a private copy of `home` (tests may change it); returns its newest run id."""
    from distill_core.runs import store

    copy = tmp_path / "home-copy"
    shutil.copytree(home, copy)
    monkeypatch.setenv("DISTILL_LAB_HOME", str(copy))
    return store.list_runs()[0].id


@pytest.fixture(scope="session")
def finished_home(tiny_teacher_dir, tmp_path_factory):
    """A DISTILL_LAB_HOME with one `done` run of the tiny teacher: results, history and a bench.json of all five
    variants. Tests get a copy (`home_with_run`), so they may change it."""
    from distill_core.measure.records import BenchConfig
    from distill_core.tasks.classification import bench

    config = tiny_run_config(tiny_teacher_dir, name="tiny-ui")
    return _home_with_finished_run(tmp_path_factory, "finished-home", config,
                                   lambda folder: bench.measure_run(folder, BenchConfig(**QUICK_BENCH)))


@pytest.fixture
def home_with_run(finished_home, tmp_path, monkeypatch):
    """A private copy of `finished_home`, set as DISTILL_LAB_HOME for this test; returns the run id."""
    return _use_copy_of(finished_home, tmp_path, monkeypatch)


class _FakeWorker:
    """Stands in for a worker process: the run stays queued (its pid is this live test process)."""

    def __init__(self, *args, **kwargs):
        import os

        self.pid = os.getpid()

    def poll(self):
        return None


@pytest.fixture
def one_slot(monkeypatch):
    """One run at a time; no worker outlives its test (a failed test must not leave a long run training)."""
    monkeypatch.setenv("DISTILL_LAB_MAX_JOBS", "1")
    yield
    from distill_core.runs import jobs

    for proc in jobs._children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    jobs._children.clear()


@pytest.fixture
def no_workers(monkeypatch):
    """jobs.submit records the run in the store but starts no worker process."""
    monkeypatch.setattr(subprocess, "Popen", _FakeWorker)
    yield
    from distill_core.runs import jobs

    jobs._children[:] = [proc for proc in jobs._children if not isinstance(proc, _FakeWorker)]


@pytest.fixture(scope="session")
def finished_lm_home(tmp_path_factory):
    """A DISTILL_LAB_HOME with one `done` causal-LM run of a tiny random Llama, measured (all five variants)."""
    from distill_core.tasks.causal_lm import bench as lm_bench
    from tests.support.lm import tiny_lm_config, tiny_lm_dir

    quick = lm_bench.LMBenchConfig(min_rounds=3, timing_seconds=0.0, sample_ms=5.0, threads=1, device="cpu",
                                   matmul_size=128)
    return _home_with_finished_run(tmp_path_factory, "finished-lm-home",
                                   tiny_lm_config(tiny_lm_dir(tmp_path_factory), name="tiny-lm-ui"),
                                   lambda folder: lm_bench.measure_lm_run(folder, quick))


@pytest.fixture
def home_with_lm_run(finished_lm_home, tmp_path, monkeypatch):
    """A private copy of `finished_lm_home` as DISTILL_LAB_HOME; returns the run id."""
    return _use_copy_of(finished_lm_home, tmp_path, monkeypatch)
