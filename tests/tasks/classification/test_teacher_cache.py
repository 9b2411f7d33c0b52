"""Teacher-output cache: hit and miss by fingerprint, safe storage, corrupt files rebuilt."""

import pytest
import torch

from distill_core.models import loading as models
from distill_core.tasks.classification import teacher_cache
from distill_core.tasks.classification.teacher_cache import TeacherOutputs, cache_path, fingerprint, teacher_outputs

TEXTS = ["a great blender", "it broke in a week", "fine", "would buy again"]
IDS = [[101, 1037, 2307, 102], [101, 2009, 3631, 102], [101, 2986, 102], [101, 2052, 4965, 2153, 102]]


class CountingCompute:
    """Stands in for evaluate.predict_logits and counts its calls."""

    def __init__(self, classes: int = 2, width: int = 8):
        self.calls, self.classes, self.width = 0, classes, width

    def __call__(self, teacher, ids, pad_id, batch_size=64, device="cpu", hidden_layers=None):
        self.calls += 1
        logits = torch.arange(len(ids) * self.classes, dtype=torch.float64).reshape(len(ids), self.classes)
        if hidden_layers:
            return logits, {layer: torch.full((len(ids), self.width), float(layer)) for layer in hidden_layers}
        return logits


def _outputs(compute, texts=TEXTS, max_length=32, teacher_fp="teacher-a", hidden_layers=None):
    ids = IDS[:len(texts)] if len(texts) <= len(IDS) else [[101, 102]] * len(texts)
    return teacher_outputs(teacher_fp, None, ids, texts, max_length, 0, hidden_layers, compute=compute)


def test_miss_computes_and_stores_then_same_fingerprint_hits_without_computing():
    compute = CountingCompute()
    first = _outputs(compute)
    assert compute.calls == 1 and first.hit is False
    assert first.logits.dtype == torch.float32 and first.logits.shape == (4, 2)
    key = fingerprint("teacher-a", TEXTS, 32, [])
    assert cache_path(key).exists()

    second = _outputs(compute)
    assert compute.calls == 1, "a hit must not call the compute function"
    assert second.hit is True
    assert torch.equal(second.logits, first.logits)


@pytest.mark.parametrize("change", [
    {"max_length": 64},
    {"texts": TEXTS[:3] + ["would buy again!"]},
    {"texts": TEXTS[:3]},
    {"teacher_fp": "teacher-b"},
    {"hidden_layers": [1]},
])
def test_a_different_fingerprint_is_a_miss(change):
    compute = CountingCompute()
    _outputs(compute)
    again = _outputs(compute, **change)
    assert compute.calls == 2
    assert again.hit is False


def test_fingerprint_ignores_hidden_layer_order():
    assert fingerprint("t", TEXTS, 32, [3, 1]) == fingerprint("t", TEXTS, 32, [1, 3])
    assert fingerprint("t", TEXTS, 32, [1]) != fingerprint("t", TEXTS, 32, [])


def test_hidden_states_are_stored_and_reused():
    compute = CountingCompute(width=8)
    first = _outputs(compute, hidden_layers=[3, 1])
    second = _outputs(compute, hidden_layers=[1, 3])
    assert compute.calls == 1 and second.hit
    assert set(second.hidden) == {1, 3}
    assert second.hidden[3].shape == (4, 8) and torch.equal(second.hidden[3], first.hidden[3])


def test_corrupt_cache_file_is_detected_and_rebuilt():
    compute = CountingCompute()
    expected = _outputs(compute).logits
    path = cache_path(fingerprint("teacher-a", TEXTS, 32, []))
    path.write_bytes(b"\x00\xffthis is not a safetensors file" * 10)
    rebuilt = _outputs(compute)
    assert compute.calls == 2 and rebuilt.hit is False
    assert torch.equal(rebuilt.logits, expected)
    assert _outputs(compute).hit is True and compute.calls == 2  # the rewritten file is good again


def test_truncated_cache_file_is_rebuilt():
    compute = CountingCompute()
    _outputs(compute)
    path = cache_path(fingerprint("teacher-a", TEXTS, 32, []))
    path.write_bytes(path.read_bytes()[:40])
    assert _outputs(compute).hit is False and compute.calls == 2


def test_cached_file_with_the_wrong_number_of_rows_is_a_miss():
    key = fingerprint("teacher-a", TEXTS, 32, [])
    teacher_cache.store(key, TeacherOutputs(torch.zeros(3, 2), {}, hit=False))
    assert teacher_cache.load(key, examples=4, hidden_layers=[]) is None
    compute = CountingCompute()
    assert _outputs(compute).hit is False and compute.calls == 1


def test_cached_file_missing_a_requested_hidden_layer_is_a_miss():
    key = fingerprint("teacher-a", TEXTS, 32, [2])
    teacher_cache.store(key, TeacherOutputs(torch.zeros(4, 2), {1: torch.zeros(4, 8)}, hit=False))
    assert teacher_cache.load(key, examples=4, hidden_layers=[2]) is None


def test_cache_lives_under_the_data_folder(isolated_home):
    assert cache_path("abc").is_relative_to(isolated_home)
    assert cache_path("abc").suffix == ".safetensors"


def test_default_compute_runs_the_real_teacher(tiny_teacher_dir):
    teacher = models.load_classifier(str(tiny_teacher_dir), ["great", "other"])
    out = teacher_outputs("tiny", teacher, IDS, TEXTS, 32, 0, hidden_layers=[0, 3])
    assert out.logits.shape == (4, 2) and not out.hit
    assert set(out.hidden) == {0, 3} and out.hidden[0].shape == (4, 32)
    again = teacher_outputs("tiny", teacher, IDS, TEXTS, 32, 0, hidden_layers=[0, 3])
    assert again.hit and torch.allclose(again.logits, out.logits)


def test_concat_stacks_parts_in_order_and_is_a_hit_only_when_all_parts_were():
    import torch

    from distill_core.tasks.classification.teacher_cache import TeacherOutputs, concat

    a = TeacherOutputs(torch.zeros(2, 3), {1: torch.zeros(2, 4)}, hit=True)
    b = TeacherOutputs(torch.ones(1, 3), {1: torch.ones(1, 4)}, hit=False)
    both = concat([a, b])
    assert both.logits.shape == (3, 3) and torch.equal(both.logits[2], torch.ones(3))
    assert both.hidden[1].shape == (3, 4)
    assert not both.hit and concat([a, a]).hit
