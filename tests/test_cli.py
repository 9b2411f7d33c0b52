"""The CLI's seeds: `run --seeds N` and the --set overrides for seeds, control budget and data seed; `show` prints
the verdict and the per-seed table; `list` has a verdict column."""

import json

import pytest

from distill_core import cli
from distill_core.runs import store, worker
from tests.support.runs import fake_results
from tests.views.test_verdict import THREE_SEEDS


def _queued_config(capsys) -> dict:
    run_id = capsys.readouterr().out.strip().splitlines()[0]
    return store.get_run(run_id).config


def test_run_seeds_flag_sets_the_training_seeds(no_workers, capsys):
    assert cli.main(["run", "--detach", "--seeds", "5"]) == 0
    assert _queued_config(capsys)["seeds"] == 5


def test_set_overrides_seeds_control_budget_and_data_seed(no_workers, capsys):
    assert cli.main(["run", "--detach", "--set", "seeds=2", "--set", "control_budget=teacher-compute",
                     "--set", "data.seed=1"]) == 0
    config = _queued_config(capsys)
    assert config["seeds"] == 2 and config["control_budget"] == "teacher-compute" and config["data"]["seed"] == 1


def test_seeds_flag_wins_over_set_and_config_prints_the_overrides(no_workers, capsys):
    assert cli.main(["run", "--detach", "--set", "seeds=2", "--seeds", "4"]) == 0
    assert _queued_config(capsys)["seeds"] == 4
    assert cli.main(["config", "--set", "seeds=5", "--set", "data.seed=7", "--set",
                     "control_budget=teacher-compute"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["seeds"], printed["data"]["seed"], printed["control_budget"]) == (5, 7, "teacher-compute")


@pytest.mark.parametrize("args, field", [(["--seeds", "0"], "seeds"), (["--seeds", "21"], "seeds"),
                                         (["--set", "control_budget=more"], "control_budget")])
def test_bad_seed_settings_exit_2_naming_the_field(no_workers, capsys, args, field):
    assert cli.main(["run", "--detach", *args]) == 2
    assert field in capsys.readouterr().err
    assert store.list_runs() == []


def _done_run(results: dict) -> store.RunRecord:
    from distill_core.core.config import RunConfig

    record = store.create_run(RunConfig(name="seeded", seeds=3).to_dict(), name="seeded")
    assert store.claim(record.id, 1, None) == "claimed"
    (record.folder / "results.json").write_text(json.dumps(results))
    store.finish(record.id, "done", summary=worker.summarize(results))
    return store.get_run(record.id)


def _three_seed_results() -> dict:
    results = fake_results(0.774, 0.751)
    results["quality"]["gain"] = THREE_SEEDS["quality"]["gain"]
    results["quality"]["distillation_gain"] = 0.016
    return results


def test_show_prints_the_verdict_and_the_seed_table(capsys):
    record = _done_run(_three_seed_results())
    assert cli.main(["show", record.id]) == 0
    out = capsys.readouterr().out
    assert "seeds: 3 (0, 1, 2), data seed 0, control budget same-steps" in out
    assert "verdict: no measurable effect: +1.60 points (95% CI -0.03 to +3.23; t over 3 seeds)" in out
    rows = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] in
            ("0", "1", "2", "mean")]
    assert rows == ["0", "1", "2", "mean"]


def test_list_shows_the_verdict_column(capsys):
    _done_run(_three_seed_results())
    _done_run(fake_results(0.86, 0.83))  # from before seeds: no verdict
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["gain", "verdict"]
    assert lines[2].endswith("no measurable effect") and lines[1].endswith("-")  # newest first


def test_bench_passes_its_timing_flags_to_the_measurement_and_refuses_a_bad_quiet_wait(monkeypatch, capsys):
    from distill_core.measure.records import check_request

    record = _done_run(_three_seed_results())
    (record.folder / "config.json").write_text(json.dumps(record.config))  # the worker writes it before a run
    asked = []

    class Task:  # the run's task, measuring nothing: what the CLI hands over is the point
        def measure(self, run_dir, cfg, variants=None, on_progress=None):
            check_request(cfg, variants)
            asked.append(cfg)
            return {}

        def format_bench(self, data):
            return "table"

    monkeypatch.setattr(cli.tables, "task_of", lambda config: Task())
    assert cli.main(["bench", record.id, "--quiet-wait", "180", "--rounds", "15", "--timing", "per-variant"]) == 0
    assert (asked[0].quiet_wait_seconds, asked[0].min_rounds, asked[0].timing) == (180.0, 15, "per-variant")
    assert asked[0].max_timing_seconds == 67.5  # 15 rounds asked: the 45 s cap for 10 rounds, scaled
    assert cli.main(["bench", record.id]) == 0 and asked[1].quiet_wait_seconds == 0.0  # no wait unless asked
    assert (asked[1].min_rounds, asked[1].max_timing_seconds) == (10, 45.0)
    assert cli.main(["bench", record.id, "--rounds", "20", "--max-timing-seconds", "30"]) == 0
    assert (asked[2].min_rounds, asked[2].max_timing_seconds) == (20, 30.0)
    assert (asked[1].timing_seconds, asked[2].timing_seconds) == (36.0, 36.0)  # at least 36 s of rounds
    assert cli.main(["bench", record.id, "--rounds", "5"]) == 0 and asked.pop().timing_seconds == 18.0  # scaled down
    assert cli.main(["bench", record.id, "--rounds", "5", "--timing-seconds", "3"]) == 0
    assert asked.pop().timing_seconds == 3.0
    capsys.readouterr()
    assert cli.main(["bench", record.id, "--quiet-wait", "-5"]) == 2
    assert "quiet_wait_seconds" in capsys.readouterr().err and len(asked) == 3
    for flags, field in ((["--rounds", "0"], "min_rounds"), (["--max-timing-seconds", "-1"], "max_timing_seconds")):
        assert cli.main(["bench", record.id, *flags]) == 2
        assert field in capsys.readouterr().err and len(asked) == 3


def test_importing_the_cli_leaves_torch_for_the_commands_that_need_it():
    """Every command (and every measuring process, which runs the console script again before its work) pays the CLI's
    imports: torch alone is ~2.5 s of them."""
    import subprocess
    import sys

    code = "import sys, distill_core.cli; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
