"""Causal-LM measurement: prefill and decode records, one variant measured in a spawned process, bench.json."""

import json

import pytest

from distill_core.measure.records import BenchConfig
from distill_core.runs import store, worker
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks import get_task
from distill_core.tasks.causal_lm import bench as lm_bench
from distill_core.tasks.causal_lm.heldout import HELDOUT_FILE, load_heldout
from distill_core.views import compare
from tests.support.lm import tiny_lm_config, tiny_lm_dir

QUICK = dict(min_rounds=3, timing_seconds=0.0, sample_ms=5.0, threads=1, device="cpu",
             variant_timeout_s=300, matmul_size=128)


def test_prefill_and_decode_records_from_known_samples():
    p = lm_bench.PrefillRecord.from_rounds(8, [10.0, 20.0, 30.0], passes=4)
    assert (p.p50_ms, p.min_ms, p.iterations) == (20.0, 10.0, 12) and p.tokens_per_s == pytest.approx(400.0)
    assert (p.p50_low_ms, p.p50_high_ms) == (10.0, 30.0)  # 3 samples: their range
    d = lm_bench.DecodeRecord.from_rounds(4, [50.0, 40.0, float("nan"), 100.0])  # ms per token; a NaN is dropped
    assert d.ms_per_token_p50 == 50.0 and d.tokens_per_s == 20.0 and d.runs == 3 and d.new_tokens == 4
    assert (d.tokens_per_s_low, d.tokens_per_s_high) == (10.0, 25.0)


def test_a_prefill_sample_is_the_median_of_its_passes_so_one_interrupted_pass_does_not_count():
    from distill_core.tasks.causal_lm import bench_session

    class ScriptedTimer:
        def __init__(self, times):
            self.times = iter(times)

        def time(self, fn):
            return next(self.times)

    session = object.__new__(bench_session.LMSession)  # only what sample() reads for prefill
    session.reps, session.timer = 3, ScriptedTimer([5.0, 21.0, 5.4])  # the 21 ms pass was interrupted
    assert session.sample(bench_session.PREFILL) == 5.4
    session.reps, session.timer = 2, ScriptedTimer([5.0, 6.0])  # two passes: their mean
    assert session.sample(bench_session.PREFILL) == 5.5


def test_measured_variants_fill_bench_json_and_the_table(tmp_path_factory, monkeypatch):
    teacher = tiny_lm_dir(tmp_path_factory)
    config = tiny_lm_config(teacher, control=False)
    record = store.create_run(config.to_dict())
    results = run_experiment(config, record.folder)
    store.finish(record.id, "done", summary=worker.summarize(results))
    # One spawned process (the int8 one: quantizing there is the harder path); the rest of the contract is shared.
    quick = lm_bench.LMBenchConfig(**QUICK, quality_variants=["student-int8"])
    data = lm_bench.measure_lm_run(record.folder, quick, variants=["student-int8"])
    v = data["variants"]["student-int8"]
    assert v["status"] == "ok", v["error"]
    assert v["quantization"]["method"] == "torch-dynamic-int8" and v["size"]["int8_elements"] > 0
    assert v["prefill"]["p50_ms"] > 0 and v["prefill"]["prompt_tokens"] == 3
    assert v["decode"]["new_tokens"] == 6 and v["decode"]["tokens_per_s"] > 0
    assert v["memory"]["delta_rss_bytes"] >= 0 and v["size"]["fixed_length"] == 32
    q = v["quality"]
    student = results["quality"]["variants"]["student"]
    assert q["perplexity"] == pytest.approx(student["perplexity"], rel=0.05)
    assert q["retention"] == pytest.approx(results["quality"]["variants"]["teacher"]["perplexity"] / q["perplexity"])
    on_disk = json.loads((record.folder / "bench.json").read_text())
    assert on_disk["task"] == "causal-lm" and on_disk["variants"]["student-int8"]["status"] == "ok"
    assert "student-int8" in lm_bench.format_bench_table(on_disk)
    rep = on_disk["variants"]["student-int8"]["sample_repetition"]
    assert 0.0 <= rep <= 1.0 and f"(repeated 4-grams {rep:.0%})" in lm_bench.format_bench_table(on_disk)
    held = on_disk["variants"]["student-int8"]["heldout_repetition"]
    blocks, _ = load_heldout(record.folder / HELDOUT_FILE)
    assert held["prompts"] == min(16, len(blocks)) == len(held["per_prompt"]) == len(held["texts"])
    assert held["mean"] == pytest.approx(sum(held["per_prompt"]) / held["prompts"]) and held["new_tokens"] == 6
    assert f"student-int8: {held['mean']:.0%}" in lm_bench.format_bench_table(on_disk)
    assert on_disk["repetition"] == {}  # no teacher measured: nothing to compare with
    row = next(r for r in compare.results_table([record.id]).rows if r["variant"] == "student-int8")
    assert row["decode_tokens_per_s"] == v["decode"]["tokens_per_s"] and row["prefill_ms"] == v["prefill"]["p50_ms"]
    assert row["perplexity"] == q["perplexity"] and row["weight_bytes"] == v["size"]["weight_bytes"]
    assert row["repeated_4grams"] == held["mean"]


def test_bench_measure_run_dispatches_lm_runs_with_their_settings(tmp_path_factory, tmp_path, monkeypatch):
    teacher = tiny_lm_dir(tmp_path_factory)
    run = tmp_path / "run"
    run_experiment(tiny_lm_config(teacher, control=False), run)
    seen = {}
    monkeypatch.setattr(lm_bench, "measure_lm_run", lambda *args: seen.setdefault("args", args) and {"ok": 1})
    get_task("causal-lm").measure(run, BenchConfig(threads=1, min_rounds=4, matmul_size=128, quality=False),
                                  variants=["student"], write=False)
    run_dir, cfg, variants = seen["args"][:3]
    assert run_dir == run and variants == ["student"]
    assert (cfg.threads, cfg.min_rounds, cfg.matmul_size, cfg.quality) == (1, 4, 128, False)
    # timing seconds and cap left at the generic defaults: the task's own; asked for: as asked
    assert (cfg.timing_seconds, cfg.max_timing_seconds) == (5.0, 90.0) != (BenchConfig().timing_seconds, 45.0)
    seen.clear()
    get_task("causal-lm").measure(run, BenchConfig(min_rounds=6, timing_seconds=12.0, max_timing_seconds=30.0),
                                  write=False)
    cfg = seen["args"][1]
    assert (cfg.min_rounds, cfg.timing_seconds, cfg.max_timing_seconds) == (6, 12.0, 30.0)
