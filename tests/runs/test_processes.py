"""A run on several processes (DDP through Accelerate, gloo on CPU): the same student as one process, files and
store events written once, cancel, and the precision a run trains in."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import load_file

from distill_core.core.config import BudgetConfig, DataConfig
from distill_core.core.errors import DistillLabError
from distill_core.runs import jobs, store
from distill_core.runs.pipeline import run_experiment
from distill_core.training.parallel import Processes
from tests.support.runs import make_tiny_classifier, tiny_run_config


@pytest.fixture(scope="module")
def no_dropout_teacher(tmp_path_factory):
    """The tiny classifier without dropout: one process and two must then take the same steps."""
    from transformers import AutoConfig

    folder = make_tiny_classifier(tmp_path_factory.mktemp("no-dropout-teacher"))
    config = AutoConfig.from_pretrained(folder)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    config.save_pretrained(folder)
    return folder


def _config(teacher, **changes):
    # Labeled rows only: with transfer rows a process's share could hold none of the labeled ones, and its hard
    # term would be a mean over other rows than one process's.
    # fp32: the same steps up to float order (bf16, auto's choice on some CPUs, rounds each process's share apart).
    return tiny_run_config(teacher, data=DataConfig(source="reviews", max_train_examples=64, transfer=None),
                           budget=BudgetConfig(unit="steps", value=6, eval_every=3), precision="fp32", **changes)


def test_two_processes_train_the_same_student_as_one(no_dropout_teacher, tmp_path):
    one = run_experiment(_config(no_dropout_teacher), tmp_path / "one")
    events = []
    two = run_experiment(_config(no_dropout_teacher, processes=2), tmp_path / "two",
                         on_progress=lambda e: events.append(e))
    assert (one["processes"], two["processes"]) == (1, 2)
    for variant in ("student", "control"):
        a = load_file(str(tmp_path / "one" / variant / "model.safetensors"))
        b = load_file(str(tmp_path / "two" / variant / "model.safetensors"))
        assert a.keys() == b.keys()
        worst = max(float((a[k] - b[k]).abs().max()) for k in a)
        assert worst < 1e-4, (variant, worst)  # float summation order only
        assert one["training"][variant]["steps"] == two["training"][variant]["steps"] == 6
    for variant, report in one["quality"]["variants"].items():
        assert two["quality"]["variants"][variant]["accuracy"] == pytest.approx(report["accuracy"], abs=1e-9)
    # The main process reported every step once; the other wrote nothing anywhere.
    steps = [e.step for e in events if e.phase == "student" and e.step]
    assert steps == list(range(1, 7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    assert json.loads((tmp_path / "two" / "results.json").read_text())["processes"] == 2


def test_a_worker_runs_two_processes_records_events_once_and_cancels(tiny_teacher_dir, tmp_path):
    run_id = jobs.submit(tiny_run_config(tiny_teacher_dir, processes=2))
    _wait(run_id, {"done", "failed"}, 120)
    record = store.get_run(run_id)
    assert record.status == "done", record.error
    student_steps = [e["step"] for e in store.run_history(run_id) if e["phase"] == "student" and e["step"]]
    assert student_steps == sorted(set(student_steps)) and student_steps[-1] == 4  # once each, in order
    assert json.loads((record.folder / "results.json").read_text())["processes"] == 2

    long = tiny_run_config(tiny_teacher_dir, processes=2, budget=BudgetConfig(unit="steps", value=100000,
                                                                              eval_every=1000))
    run_id = jobs.submit(long)
    deadline = time.monotonic() + 120
    while not any(e["phase"] == "student" and e["step"] for e in store.run_history(run_id)):
        assert time.monotonic() < deadline, "the student never started"
        assert store.get_run(run_id).status in ("queued", "running"), store.get_run(run_id).error
        time.sleep(0.5)
    jobs.cancel(run_id)
    _wait(run_id, {"cancelled", "failed", "done"}, 60)
    record = store.get_run(run_id)
    assert record.status == "cancelled", record.error
    assert (record.folder / "student" / "model.safetensors").exists()  # the partly trained student is kept
    assert not _processes_of(record.folder), "a training process outlived the cancelled run"


def test_bf16_on_cpu_is_recorded_and_fp16_on_cpu_is_refused(tiny_config, tmp_path):
    results = run_experiment(tiny_config.replace(precision="bf16"), tmp_path / "bf16")
    assert results["precision"] == "bf16"
    assert results["training"]["student"]["steps"] == 4
    assert json.loads((tmp_path / "bf16" / "results.json").read_text())["precision"] == "bf16"
    with pytest.raises(DistillLabError) as err:
        run_experiment(tiny_config.replace(precision="fp16"), tmp_path / "fp16")
    assert err.value.field == "precision"
    assert run_experiment(tiny_config.replace(precision="fp32"), tmp_path / "fp32")["precision"] == "fp32"


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_on_cpu_is_bf16_only_where_the_cpu_has_it_in_hardware(monkeypatch, native):
    from distill_core.core import device
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert device.cpu_has_native_bf16() is native
    assert device.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert device.resolve_precision("fp32", "cpu") == "fp32"


def test_one_process_shares_are_everything():
    one = Processes()
    assert one.share([1, 2, 3]) == [1, 2, 3]
    assert torch.equal(one.rows(3, lambda rows: torch.tensor(rows) * 2), torch.tensor([0, 2, 4]))
    assert one.any(True) and not one.any(False)
    assert one.stop_check(None) is None


def _wait(run_id: str, statuses: set[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while store.get_run(run_id).status not in statuses:
        assert time.monotonic() < deadline, f"run still {store.get_run(run_id).status}"
        time.sleep(0.5)


def _processes_of(folder) -> list:
    import psutil

    time.sleep(1.0)
    return [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]


def test_a_causal_lm_on_two_processes_trains_the_same_student_as_one(tmp_path_factory, tmp_path):
    from tests.support.lm import tiny_lm_config, tiny_lm_dir

    teacher = tiny_lm_dir(tmp_path_factory)  # a Llama without dropout (fp32: see _config)
    one = run_experiment(tiny_lm_config(teacher, precision="fp32"), tmp_path / "one")
    two = run_experiment(tiny_lm_config(teacher, processes=2, precision="fp32"), tmp_path / "two")
    a = load_file(str(tmp_path / "one" / "student" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "student" / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    for variant, report in one["quality"]["variants"].items():
        assert two["quality"]["variants"][variant]["perplexity"] == pytest.approx(report["perplexity"], rel=1e-4)
    assert two["processes"] == 2 and two["training"]["student"]["steps"] == one["training"]["student"]["steps"]


def test_under_an_outside_launcher_the_cli_asks_for_a_run_folder(monkeypatch, capsys):
    from distill_core.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["run", "--preset", "reviews-tiny"]) != 0
    err = capsys.readouterr().err
    assert "--run-dir" in err and "--processes N" in err


def test_more_processes_than_gpus_is_refused_before_any_starts(monkeypatch):
    from distill_core.core import device

    monkeypatch.setattr(device, "machine_devices", lambda: (16, 2))
    with pytest.raises(DistillLabError) as err:
        device.check_processes(4, "cuda")
    assert err.value.field == "processes" and "1 to 2" in str(err.value)
    device.check_processes(2, "cuda")
    device.check_processes(4, "cpu")  # CPU processes share the cores: any number is allowed
