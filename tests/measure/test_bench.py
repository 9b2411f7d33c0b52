"""The measurement harness: its arithmetic, its records, and spawned measurement that survives a broken variant."""

import json
import shutil

import pytest
import torch

from distill_core.measure import flops, machine, records, timing

from distill_core.models import students
from distill_core.measure.records import BenchConfig, LatencyRecord
from distill_core.runs.folders import resolve_run_dir
from distill_core.tasks.classification import bench
from distill_core.tasks.classification.bench import VariantSpec
from distill_core.core.errors import DistillLabError
from distill_core.runs.pipeline import run_experiment

from tests.support.runs import LABELS

QUICK = dict(batch_sizes=[1, 4], fixed_length=32, sample_size=8, warmup_iterations=1, min_iterations=2,
             min_seconds=0.0, max_seconds=5.0, threads=1, device="cpu", matmul_size=128, variant_timeout_s=300)


def test_percentiles_interpolate_between_closest_ranks():
    samples = list(range(1, 101))  # 1..100
    assert timing.percentile(samples, 50) == pytest.approx(50.5)
    assert timing.percentile(samples, 90) == pytest.approx(90.1)
    assert timing.percentile(samples, 99) == pytest.approx(99.01)
    assert timing.percentile([10, 20, 30, 40], 50) == pytest.approx(25.0)
    assert timing.percentile([7.0], 99) == 7.0


def test_relative_spread_is_p90_minus_p10_over_median():
    assert timing.relative_spread(list(range(1, 101))) == pytest.approx((90.1 - 10.9) / 50.5)
    assert timing.relative_spread([5.0] * 10) == 0.0


def test_latency_record_throughput_and_gflops_from_known_samples():
    r = LatencyRecord.from_samples("fixed", 4, [10.0, 20.0, 30.0, 40.0], padded_tokens=32, real_tokens=16,
                                   flops_per_input=1e9, peak_gflops=400.0)
    assert r.seconds == pytest.approx(0.1) and r.iterations == 4
    assert r.throughput == pytest.approx(16 / 0.1)  # 4 passes of 4 inputs in 0.1 s
    assert r.tokens_per_s == pytest.approx(16 * 16 / 0.1)
    assert r.gflops_per_s == pytest.approx(160.0) and r.peak_fraction == pytest.approx(0.4)
    assert (r.p50_ms, r.min_ms, r.mean_ms) == (25.0, 10.0, 25.0)


def test_flops_of_one_linear_layer_match_the_hand_count():
    layer = torch.nn.Linear(16, 8)
    rows = 5
    assert students.forward_flops(layer, torch.randn(rows, 16)) == 2 * 16 * 8 * rows


def test_flops_curve_is_exact_at_other_lengths(tiny_teacher_dir):
    from distill_core.models import loading as models

    model = models.load_classifier(str(tiny_teacher_dir), LABELS)
    curve = flops.flops_curve(model, 64)
    for length in (7, 50, 100):
        assert flops.flops_at(curve, length) == pytest.approx(students.count_flops(model, length), rel=1e-9)


def test_real_batches_group_by_length_and_fixed_batches_have_the_fixed_length():
    ids = [[1] * n for n in (5, 9, 2, 7, 3, 8)]
    batches = bench.real_batches(ids, 2)
    assert [sorted(len(x) for x in b) for b in batches] == [[2, 3], [5, 7], [8, 9]]
    assert bench.real_batches(ids, 8)[0].__len__() == 8  # a sample smaller than a batch is repeated
    fixed = bench.fixed_batch(ids, 3, 16)
    assert len(fixed) == 3 and all(len(row) == 16 for row in fixed)


def test_timed_passes_stop_on_whole_cycles_after_both_minimums():
    cfg = BenchConfig(min_iterations=5, min_seconds=0.0, max_seconds=10.0)
    calls = []
    samples = timing.timed_passes([lambda: calls.append(0)] * 3, timing.PassTimer("cpu"), cfg)
    assert len(samples) == 6 == len(calls)  # >= 5 passes, and a whole number of 3-batch cycles


def _records():
    latency = LatencyRecord.from_samples("real", 1, [1.0, 2.0, 3.0], 10.0, 9.0, 1e6, None, None)
    variant = records.VariantResult(
        name="student-int8", ref="/x/student", status="ok", device="cpu", threads=1, load_seconds=0.5,
        wall_seconds=3.0, quantization={"method": "torch-dynamic-int8"}, latency=[latency],
        memory=records.MemoryRecord(100, 300, 200, 12, None),
        size=records.SizeRecord(1000, 2000, 500, 30000, 12000.5, 32, [1.0, 2.0, 3.0]),
        quality={"accuracy": 0.5, "retention": 1.0}, machine=machine.machine_record().to_dict())
    broken = records.VariantResult(name="control", ref="/missing", status="error", error="no folder")
    return records.BenchResult(run_dir="/x", created="2025-01-01T00:00:00", wall_seconds=4.0, config=BenchConfig(),
                             machine=variant.machine, matmul_peak={"gflops_per_s": 50.0}, run_config={"name": "x"},
                             variants={"student-int8": variant, "control": broken})


def test_results_json_round_trips():
    result = _records()
    data = json.loads(json.dumps(result.to_dict()))
    again = records.BenchResult.from_dict(data)
    assert again == result
    assert again.to_dict() == result.to_dict()


def test_machine_record_names_cpu_threads_and_versions():
    record = machine.machine_record()
    assert record.cpu_model and record.logical_cores >= 1 and record.threads == torch.get_num_threads()
    assert record.torch == torch.__version__ and record.transformers
    assert machine.MachineRecord.from_dict(record.to_dict()) == record


def test_matmul_peak_is_measured_once_and_cached():
    first = machine.matmul_peak("cpu", threads=1, n=128, reps=1)
    assert first["gflops_per_s"] > 0 and first["threads"] == 1
    assert machine.matmul_peak("cpu", threads=1, n=128, reps=1) == first


def test_measure_variant_in_process_reports_every_setting(tiny_teacher_dir):
    cfg = BenchConfig(**QUICK)
    spec = VariantSpec("teacher-int8", str(tiny_teacher_dir), LABELS, quantize=True, max_length=32)
    texts = ["a fine product", "it broke after a day and nobody answered my emails", "ok", "great value, works"]
    result, logits = bench.measure_variant(spec, cfg, texts, [0, 1, 2, 3], peak_gflops=10.0)
    assert result.status == "ok" and result.threads == torch.get_num_threads()
    assert {(r.setting, r.batch_size) for r in result.latency} == {("real", 1), ("real", 4), ("fixed", 1),
                                                                      ("fixed", 4)}
    for r in result.latency:
        assert r.iterations >= 2 and r.p50_ms > 0 and r.p50_ms <= r.p90_ms <= r.p99_ms
    fixed = next(r for r in result.latency if r.setting == "fixed")
    assert fixed.padded_tokens == 32 and fixed.flops_per_input == pytest.approx(result.size.flops_per_input_fixed)
    assert result.quantization["method"] == "torch-dynamic-int8" and result.size.int8_elements > 0
    assert result.memory.peak_rss_bytes >= result.memory.baseline_rss_bytes
    assert len(logits) == len(texts) and len(logits[0]) == len(LABELS)


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
    assert "control: " in bench.format_bench_table(data)


def test_measure_run_writes_bench_json_with_quality_for_each_variant(measured_run):
    run_dir, data = measured_run
    on_disk = json.loads((run_dir / "bench.json").read_text())
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
    assert "student-int8" in table and "p50/p90/p99" in table and "torch-dynamic-int8" in table
    assert records.speedup(data, "student-int8") > 0


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
