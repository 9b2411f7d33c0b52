"""The classification measurement harness: every setting measured, spawned measurement that survives a broken
variant, bench.json with quality, cancelling between variants."""

import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch

from distill_core.core.errors import DistillLabError
from distill_core.measure import records
from distill_core.measure.records import BenchConfig
from distill_core.runs.folders import resolve_run_dir
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.classification import bench, bench_session
from distill_core.tasks.classification.bench import VariantSpec
from tests.support.runs import LABELS

QUICK = dict(batch_sizes=[1, 4], settings=["real", "fixed"], fixed_length=32, sample_size=8, warmup_iterations=1,
             min_rounds=3, timing_seconds=0.0, sample_ms=5.0, threads=1, device="cpu", matmul_size=128,
             variant_timeout_s=300)


def test_real_batches_group_by_length_and_fixed_batches_have_the_fixed_length():
    ids = [[1] * n for n in (5, 9, 2, 7, 3, 8)]
    batches = bench.real_batches(ids, 2)
    assert [sorted(len(x) for x in b) for b in batches] == [[2, 3], [5, 7], [8, 9]]
    assert bench.real_batches(ids, 8)[0].__len__() == 8  # a sample smaller than a batch is repeated
    fixed = bench.fixed_batch(ids, 3, 16)
    assert len(fixed) == 3 and all(len(row) == 16 for row in fixed)


def test_a_timing_cycle_spreads_over_the_lengths_and_keeps_its_order():
    batches = [[n] for n in range(20)]
    assert bench_session.cycle_of(batches, 5) == [[2], [6], [10], [14], [18]]
    rows = [[[1] * n] * 2 for n in (10, 20, 50, 80)]  # batches of two inputs, padded to 10, 20, 50, 80 tokens
    assert bench_session.cycle_of(rows, 1) == [rows[2]]  # one batch: nearest the mean padded length (40)
    assert bench_session.cycle_of(batches[:3], 8) == batches[:3]


def test_a_variant_session_reports_every_setting_and_times_samples(tiny_teacher_dir):
    cfg = BenchConfig(**QUICK)
    spec = VariantSpec("teacher-int8", str(tiny_teacher_dir), LABELS, quantize=True, max_length=32)
    texts = ["a fine product", "it broke after a day and nobody answered my emails", "ok", "great value, works"]
    session = bench_session.VariantSession(spec, cfg, texts, [0, 1, 2, 3], peak_gflops=10.0)
    report = session.report
    assert report["threads"] == torch.get_num_threads()
    assert set(session.keys) == {"real/1", "real/4", "fixed/1", "fixed/4"}
    fixed = report["cycles"]["fixed/4"]
    assert fixed["padded_tokens"] == 32 and fixed["flops_per_input"] == pytest.approx(
        report["size"]["flops_per_input_fixed"])
    assert report["passes"] == {}  # known after warm, in the process that times
    session.warm("real/1")
    assert report["passes"]["real/1"] >= 4  # 4 inputs of the sample (cycle_batches), whole cycles
    samples = [session.sample("real/4") for _ in range(3)]  # the first sample warms the setting first
    cycle = dict(report["cycles"]["real/4"], passes=report["passes"]["real/4"])
    record = records.LatencyRecord.from_rounds(cycle, samples, peak_gflops=10.0)
    assert record.samples_ms == samples and record.p50_low_ms <= record.p50_ms <= record.p50_high_ms
    assert record.iterations == 3 * report["passes"]["real/4"]
    assert report["quantization"]["method"] == "torch-dynamic-int8" and report["size"]["int8_elements"] > 0
    assert report["memory"]["peak_rss_bytes"] >= report["memory"]["baseline_rss_bytes"]
    assert report["logits"] is None  # quality comes after the rounds
    logits = session.finish()["logits"]
    assert len(logits) == len(texts) and len(logits[0]) == len(LABELS)


def test_the_timing_processs_session_only_times_the_same_cycles(tiny_teacher_dir, monkeypatch):
    cfg = BenchConfig(**QUICK)
    spec = VariantSpec("teacher", str(tiny_teacher_dir), LABELS, quantize=False, max_length=32)
    texts = ["a fine product", "it broke after a day and nobody answered my emails", "ok", "great value, works"]
    full = bench_session.VariantSession(spec, cfg, texts, [0, 1, 2, 3])
    monkeypatch.setattr(bench_session, "flops_curve", lambda *a: pytest.fail("the timing process counts no FLOPs"))
    timing = bench_session.open_timing_session(asdict(spec), cfg.to_dict(), texts, [0, 1, 2, 3], None)
    assert set(timing.report) == {"name", "passes"} and timing.report["passes"] == {}  # no memory, size, machine
    assert timing.keys == full.keys
    for key in timing.keys:  # the same batches, so the same passes per sample once warmed alike
        assert [b[0].tolist() for b in timing.cycles[key][2]] == [b[0].tolist() for b in full.cycles[key][2]]
    assert timing.warm("real/4") > 0 and timing.report["passes"]["real/4"] == timing.reps["real/4"] * len(
        timing.cycles["real/4"][2])
    assert timing.sample("fixed/1") > 0 and "fixed/1" in timing.report["passes"]  # a sample warms first


def test_a_sample_takes_each_batchs_median_over_its_passes_so_one_interrupted_pass_does_not_count():
    class ScriptedTimer:  # pass times in the order the passes run: rep 1 (batch a, b), rep 2, rep 3
        def __init__(self, times):
            self.times = iter(times)

        def time(self, fn):
            return next(self.times)

    session = object.__new__(bench_session.VariantSession)  # only what sample() reads
    session.cycles = {"real/1": ("real", 1, ["a", "b"])}
    session.reps = {"real/1": 3}
    session.loaded = type("Loaded", (), {"forward": staticmethod(lambda batch: None)})()
    # batch a: 3.0 (cold, after another model), 2.0, 2.2 -> median 2.2; batch b: 4.0, 12.0 (interrupted), 4.2 -> 4.2
    session.timer = ScriptedTimer([3.0, 4.0, 2.0, 12.0, 2.2, 4.2])
    assert session.sample("real/1") == pytest.approx((2.2 + 4.2) / 2)
    session.reps = {"real/1": 2}  # two passes: their mean
    session.timer = ScriptedTimer([3.0, 4.0, 2.0, 6.0])
    assert session.sample("real/1") == pytest.approx((2.5 + 5.0) / 2)


@pytest.fixture(scope="module")
def measured_run(tiny_teacher_dir, tmp_path_factory):
    """A tiny run whose control/ folder was deleted, measured once: (run folder, bench dict). Spawning a measuring
    process costs seconds, so the tests below share this one measurement."""
    from tests.support.runs import tiny_run_config

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_LAB_HOME", str(tmp_path_factory.mktemp("bench-home")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        run_dir = tmp_path_factory.mktemp("bench-run") / "run"
        run_experiment(tiny_run_config(tiny_teacher_dir), run_dir)
        shutil.rmtree(run_dir / "control")
        data = bench.measure_run(run_dir, BenchConfig(**QUICK), variants=["teacher", "student-int8", "control"])
    return run_dir, data


def test_a_variant_that_fails_to_load_does_not_take_the_others_down(measured_run):
    _, data = measured_run
    control = data["variants"]["control"]
    assert control["status"] == "error" and "control" in control["error"] and "not a folder" in control["error"]
    assert control["latency"] == [] and control["wall_seconds"] > 0
    for name in ("teacher", "student-int8"):
        assert data["variants"][name]["status"] == "ok" and len(data["variants"][name]["latency"]) == 4
        assert all(len(r["samples_ms"]) == data["conditions"]["rounds"] >= 3 for r in data["variants"][name]["latency"])
    assert "control: " in bench.format_bench_table(data)


def test_measure_run_writes_bench_json_with_quality_for_each_variant(measured_run):
    run_dir, data = measured_run
    on_disk = json.loads((run_dir / "bench.json").read_text())
    run_quality = json.loads((run_dir / "results.json").read_text())["quality"]
    assert data["quality"]["distillation_gain"] == run_quality["gain"]["mean"]  # the run's, over its seeds
    assert on_disk == json.loads(json.dumps(data))
    assert records.BenchResult.from_dict(on_disk).to_dict() == on_disk
    teacher, student8 = data["variants"]["teacher"], data["variants"]["student-int8"]
    assert teacher["quality"]["retention"] == 1.0 and teacher["quality"]["agreement"] == 1.0
    assert 0 <= student8["quality"]["agreement"] <= 1 and student8["quality"]["retention"] is not None
    assert student8["quantization"]["method"] == "torch-dynamic-int8" and student8["quantization"]["int8_elements"]
    assert student8["size"]["weight_bytes"] < teacher["size"]["weight_bytes"]
    assert data["machine"]["threads"] == 1 and data["run_config"]["name"] == "tiny"
    assert data["matmul_peak"]["gflops_per_s"] > 0
    table = bench.format_bench_table(data)
    assert "student-int8" in table and "p50 ms (95% CI)" in table and "torch-dynamic-int8" in table
    pair = next(c for c in data["comparisons"] if c["variant"] == "student-int8" and c["batch_size"] == 4
                and c["setting"] == "real")
    t = data["variants"]["teacher"]["latency"][1]["samples_ms"]
    s = data["variants"]["student-int8"]["latency"][1]["samples_ms"]
    assert pair["ratio"] == pytest.approx(sorted(a / b for a, b in zip(t, s))[1])  # the median of 3 paired ratios
    assert records.speedup(data, "student-int8") == pair["ratio"]


def test_measure_run_refuses_a_folder_that_is_not_a_finished_run(tmp_path):
    with pytest.raises(DistillLabError, match="results.json"):
        bench.measure_run(tmp_path, BenchConfig(**QUICK))


def test_run_ids_resolve_to_the_data_folder(isolated_home):
    (isolated_home / "runs" / "abc123").mkdir(parents=True)
    assert resolve_run_dir("abc123") == isolated_home / "runs" / "abc123"
    with pytest.raises(DistillLabError, match="neither a run folder"):
        resolve_run_dir("nope")


def test_a_cancelled_measurement_stops_before_the_next_variant(tiny_teacher_dir):
    from distill_core.core.errors import RunCancelled

    spec = VariantSpec("teacher", str(tiny_teacher_dir), LABELS, quantize=False, max_length=32)
    with pytest.raises(RunCancelled, match="before teacher"):
        bench.measure_variants([spec], BenchConfig(**QUICK), ["a text"], None, should_stop=lambda: True)


def test_onnx_runtime_variants_are_measured_beside_the_eager_ones(home_with_run):
    from distill_core.models import onnx_export
    from distill_core.runs import store

    folder = store.get_run(home_with_run).folder
    data = json.loads((folder / "bench.json").read_text())
    assert data["config"]["runtimes"] == ["pytorch", "onnxruntime"]
    v = data["variants"]
    assert [n for n in v if n.endswith(("-ort", "-ort-int8"))] == ["teacher-ort", "teacher-ort-int8", "student-ort",
                                                                  "student-ort-int8", "control-ort"]
    failed = {n: (v[n]["status"], v[n].get("error")) for n in v if "-ort" in n and v[n]["status"] != "ok"}
    assert not failed
    assert all(v[n]["runtime"] == "onnxruntime" for n in v if "-ort" in n)
    assert v["student"]["runtime"] == "pytorch"
    export = onnx_export.read_export(str(folder / "student"))  # the files were made from the saved student
    assert v["student-ort"]["size"]["weight_bytes"] == export.fp32_bytes
    assert v["student-ort-int8"]["size"]["weight_bytes"] == export.int8_bytes
    assert v["student-ort-int8"]["quantization"]["method"] == onnx_export.INT8_METHOD
    # the same fp32 weights on another runtime answer the same: same accuracy, full agreement with the eager student
    assert v["student-ort"]["quality"]["accuracy"] == pytest.approx(v["student"]["quality"]["accuracy"])
    # measured in the same rounds as the eager teacher: the speedup is the median of the paired per-round ratios
    pair = next(c for c in data["comparisons"] if c["reference"] == "teacher" and c["variant"] == "student-ort-int8"
                and c["setting"] == "real" and c["batch_size"] == 4)
    t = next(r["samples_ms"] for r in v["teacher"]["latency"] if r["setting"] == "real" and r["batch_size"] == 4)
    s = next(r["samples_ms"] for r in v["student-ort-int8"]["latency"] if r["setting"] == "real" and r["batch_size"] == 4)
    assert len(t) == len(s) == data["conditions"]["rounds"]
    assert pair["ratio"] == pytest.approx(float(np.median([a / b for a, b in zip(t, s)])))


def test_the_teachers_onnx_runtime_logits_are_kept_for_the_next_measurement(home_with_run):
    from distill_core.core import config as config_mod
    from distill_core.core.run_files import read_run
    from distill_core.runs import store
    from distill_core.tasks.classification import evaluate, teacher_cache
    from distill_core.tasks.classification.data import load_splits

    folder = store.get_run(home_with_run).folder
    data = json.loads((folder / "bench.json").read_text())
    results, run_config = read_run(folder)
    cfg = config_mod.from_dict(run_config)
    test = load_splits(cfg.data, cfg.data.seed).test
    specs = bench.variant_specs(folder, results, run_config, ("pytorch", "onnxruntime"))
    keys = bench._onnx_teacher_keys(specs, results["teacher"]["fingerprint"])
    assert set(keys) == {"teacher-ort", "teacher-ort-int8"} and keys["teacher-ort"] != keys["teacher-ort-int8"]
    labels = torch.as_tensor(test.labels)
    for name, identity in keys.items():
        cached = teacher_cache.load(teacher_cache.fingerprint(identity, test.texts, cfg.max_length, []),
                                    len(test.texts), [])
        assert cached is not None, name  # stored by the measurement that wrote bench.json
        accuracy = evaluate.accuracy(cached.logits, labels)  # the tiny teacher's labels are in the splits' order
        assert accuracy == pytest.approx(data["variants"][name]["quality"]["accuracy"])
