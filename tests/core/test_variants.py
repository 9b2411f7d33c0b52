"""Variant names across runtimes: "student-int8" on ONNX Runtime is "student-ort-int8", and back."""

import pytest

from distill_core.core.variants import (ALL_VARIANTS, VARIANTS, base_variant, order_key, runtime_of, variant_for,
                                        variant_label)


@pytest.mark.parametrize(("base", "runtime", "name"), [
    ("teacher", "pytorch", "teacher"), ("student-int8", "pytorch", "student-int8"),
    ("teacher", "onnxruntime", "teacher-ort"), ("student-int8", "onnxruntime", "student-ort-int8"),
    ("control", "onnxruntime", "control-ort")])
def test_a_variant_on_a_runtime_carries_its_tag_and_maps_back(base, runtime, name):
    assert variant_for(base, runtime) == name
    assert runtime_of(name) == runtime and base_variant(name) == base


def test_every_listed_variant_is_an_eager_variant_on_a_runtime():
    # control has no int8 variant on either runtime (quantizing it would only repeat the student's int8)
    assert set(ALL_VARIANTS) == {variant_for(v, r) for v in VARIANTS for r in ("pytorch", "onnxruntime")}
    assert set(VARIANTS) <= set(ALL_VARIANTS)


def test_labels_and_order():
    assert variant_label("student-ort-int8") == "student int8 · ONNX Runtime"
    assert variant_label("teacher-int8") == "teacher int8"
    assert sorted(["control", "student-ort", "mystery", "teacher", "student"], key=order_key) == \
        ["teacher", "student", "student-ort", "control", "mystery"]
    assert runtime_of("mystery") == "pytorch" and base_variant("mystery") == "mystery"
