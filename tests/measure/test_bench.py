"""Task-neutral measurement: timing arithmetic, FLOPs, records, the machine record."""

import json

import pytest
import torch

from distill_core.measure import flops, machine, records, timing
from distill_core.measure.records import BenchConfig, LatencyRecord
from distill_core.models import students
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
