"""One real run on the offline default: the packaged MiniLM teacher fine-tuned on the packaged reviews."""

import json

import pytest

from distill_core.cli import main


@pytest.mark.e2e
def test_cli_runs_tiny_preset_on_packaged_assets(tmp_path, capsys, isolated_home):
    run_dir = tmp_path / "run"
    assert main(["run", "--preset", "reviews-tiny", "--run-dir", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "distillation gain" in printed
    results = json.loads((run_dir / "results.json").read_text())
    variants = results["quality"]["variants"]
    assert variants["teacher"]["examples"] == 1000  # the packaged test split, untouched by training
    assert 0.5 < variants["teacher"]["accuracy"] <= 1.0
    assert results["teacher"]["finetuned"] and not results["teacher"]["cached"]
    assert (run_dir / "student" / "model.safetensors").exists()
    # The fine-tuned teacher is cached under the data folder and reused by the next run.
    teachers = list((isolated_home / "cache" / "teachers").iterdir())
    assert len(teachers) == 1 and (teachers[0] / "teacher.json").exists()
    assert main(["run", "--preset", "reviews-tiny", "--run-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["teacher"]["cached"] and again["teacher_outputs_cached"]


@pytest.mark.e2e
def test_tiny_preset_on_two_cpu_processes_matches_one(tmp_path, capsys, isolated_home):
    """The tiny preset with 2 training processes (gloo) against 1: the same teacher (cached by the first), one run
    folder, and the student's test accuracy within 1 point (the processes draw other dropout masks; with no dropout
    tests/runs/test_processes.py finds the weights equal)."""
    assert main(["run", "--preset", "reviews-tiny", "--run-dir", str(tmp_path / "one")]) == 0
    assert main(["run", "--preset", "reviews-tiny", "--processes", "2", "--run-dir", str(tmp_path / "two")]) == 0
    assert "trained on: cpu, 2 processes (DDP)" in capsys.readouterr().out
    one, two = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two"))
    assert two["processes"] == 2 and two["teacher"]["cached"]
    for variant in ("student", "control"):
        a, b = one["quality"]["variants"][variant], two["quality"]["variants"][variant]
        assert abs(a["accuracy"] - b["accuracy"]) <= 0.01, (variant, a["accuracy"], b["accuracy"])
    same = [x == y for x, y in zip(*(json.loads((tmp_path / n / "example_scores.json").read_text())["student"][0]
                                     for n in ("one", "two")))]
    assert sum(same) / len(same) >= 0.97  # the two students are right and wrong on the same test examples
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
