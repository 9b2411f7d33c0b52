"""A causal-LM run end to end on a tiny random Llama, through the same entry as classification runs."""

import json

import pytest
import torch

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.runs import store, worker
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.causal_lm import run as lm_runner
from distill_core.views import compare, tables
from tests.support.lm import make_tiny_lm, tiny_lm_config, tiny_lm_dir


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return tiny_lm_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def finished(teacher_dir, tmp_path_factory):
    """(results, run folder, events) of one stored tiny run, made once for this module."""
    home = tmp_path_factory.mktemp("lm-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_LAB_HOME", str(home))
        config = tiny_lm_config(teacher_dir)
        record = store.create_run(config.to_dict())
        events = []
        results = run_experiment(config, record.folder, on_progress=events.append)
        store.finish(record.id, "done", summary=worker.summarize(results))
        folder = record.folder  # resolved under this home (a property of the data folder)
    return results, type("Run", (), {"id": record.id, "folder": folder}), events, home


def test_run_writes_the_classification_layout(finished):
    results, record, events, _ = finished
    for name in ("config.json", "preflight.json", "history.json", "results.json", "heldout.safetensors"):
        assert (record.folder / name).exists(), name
    for name in ("student", "control"):
        assert (record.folder / name / "model.safetensors").exists()
        assert json.loads((record.folder / name / "config.json").read_text())["num_hidden_layers"] == 2
    preflight = json.loads((record.folder / "preflight.json").read_text())
    assert {"teacher", "student", "flops_ratio", "student_description"} <= preflight.keys()
    assert {"parameters", "weight_bytes", "flops_per_input"} <= preflight["student"].keys()
    assert preflight["flops_ratio"] > 1
    assert {e.phase for e in events} >= {"data", "preflight", "teacher-outputs", "student", "control", "evaluate",
                                         "done"}
    assert set(e.phase for e in events) <= set(worker.PHASE_SPAN) | {"preflight"}


def test_results_hold_perplexity_retention_and_gain(finished):
    results = finished[0]
    q = results["quality"]
    assert (q["split"], q["metric"], q["higher_is_better"]) == ("held-out", "perplexity", False)
    assert set(q["variants"]) == {"teacher", "student", "control"}
    for name, m in q["variants"].items():
        assert m["perplexity"] > 1 and 0 <= m["agreement"] <= 1 and m["kl_from_teacher"] >= 0
        assert m["retention"] == pytest.approx(q["variants"]["teacher"]["perplexity"] / m["perplexity"])
    assert q["distillation_gain"] == pytest.approx(q["variants"]["control"]["perplexity"]
                                                   - q["variants"]["student"]["perplexity"])
    assert q["variants"]["teacher"]["kl_from_teacher"] == 0.0
    assert results["training"]["student"]["steps"] == results["training"]["control"]["steps"] == 6
    assert results["data"]["eval_blocks"] == 6 and results["teacher_cache"]["top_k"] == 8


def test_history_has_loss_and_validation_perplexity_per_phase(finished):
    history = json.loads((finished[1].folder / "history.json").read_text())
    for phase in ("student", "control"):
        assert any("loss" in e for e in history[phase])
        val = [e for e in history[phase] if "val_perplexity" in e]
        assert [e["step"] for e in val] == [3, 6]


def test_store_summary_cli_report_and_comparison_table(finished, monkeypatch):
    results, record, _, home = finished
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    summary = store.get_run(record.id).summary
    assert set(summary["perplexity"]) == {"teacher", "student", "control"}
    text = tables.quality_table(results)  # what `distill-lab show` prints first
    assert "perplexity" in text and "distillation gain (control - student perplexity)" in text
    table = compare.results_table([record.id])
    assert table.columns[:10] == ["run_id", "name", "status", "variant", "runtime", "perplexity", "agreement",
                                  "kl_from_teacher", "retention", "distillation_gain"]
    assert [(r["variant"], r["runtime"]) for r in table.rows] == [("teacher", "pytorch"), ("student", "pytorch"),
                                                                  ("control", "pytorch")]
    student = next(r for r in table.rows if r["variant"] == "student")
    assert student["distillation_gain"] == results["quality"]["distillation_gain"]


def test_second_run_reuses_the_teacher_cache(teacher_dir, tmp_path):
    config = tiny_lm_config(teacher_dir, control=False)
    first = run_experiment(config, tmp_path / "a")
    again = run_experiment(config.replace(seed=0), tmp_path / "b")
    assert not first["teacher_outputs_cached"] and again["teacher_outputs_cached"]
    assert "control" not in again["quality"]["variants"] and again["quality"]["distillation_gain"] is None


@pytest.mark.parametrize("divergence", ["reverse-kl", "jsd"])
def test_other_divergences_train(teacher_dir, tmp_path, divergence):
    config = tiny_lm_config(teacher_dir, control=False)
    config.lm.divergence = divergence
    config.budget.value = 2
    results = run_experiment(config, tmp_path / "run")
    assert results["training"]["student"]["steps"] == 2


def test_vocabulary_mismatch_refuses_the_run_naming_student_model(teacher_dir, tmp_path):
    other = make_tiny_lm(tmp_path / "other", layers=2, vocab_size=300)
    config = tiny_lm_config(teacher_dir)
    config.student.kind, config.student.model = "model", str(other)
    with pytest.raises(DistillLabError, match=r"student vocab \(300\) differs from teacher vocab") as err:
        run_experiment(config, tmp_path / "run")
    assert err.value.field == "student.model"
    with pytest.raises(DistillLabError, match="logit distillation needs the same vocabulary"):
        lm_runner.preflight(config)


def test_preflight_without_training_matches_the_run(teacher_dir, finished):
    record = lm_runner.preflight(tiny_lm_config(teacher_dir))
    saved = json.loads((finished[1].folder / "preflight.json").read_text())
    assert record == saved


def test_cancel_before_training_raises_run_cancelled(teacher_dir, tmp_path):
    with pytest.raises(RunCancelled):
        run_experiment(tiny_lm_config(teacher_dir), tmp_path / "run", should_stop=lambda: True)


def test_block_size_above_the_model_limit_is_refused(teacher_dir, tmp_path):
    config = tiny_lm_config(teacher_dir, max_length=512)
    with pytest.raises(DistillLabError, match="limit of 256") as err:
        run_experiment(config, tmp_path / "run")
    assert err.value.field == "max_length"
    torch.set_num_threads(1)
