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
