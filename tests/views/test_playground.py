"""The Playground's engine: variants of a finished run answer a text; loaded models stay within a byte budget."""

import pytest

from distill_core.core.errors import DistillLabError
from distill_core.views import playground
from distill_core.views.playground import LoadedVariant, ModelCache


def fake_variant(nbytes: int) -> LoadedVariant:
    return LoadedVariant(model=None, tokenizer=None, labels=[], weight_bytes=nbytes, task="classification")


def test_cache_evicts_the_least_recently_used_model_past_its_byte_budget():
    cache = ModelCache(max_bytes=250)
    loads = []

    def loader(key, nbytes=100):
        return lambda: loads.append(key) or fake_variant(nbytes)

    cache.get(("run", "a"), loader("a"))
    cache.get(("run", "b"), loader("b"))
    cache.get(("run", "a"), loader("a"))  # a is now the most recent; no reload
    cache.get(("run", "c"), loader("c"))  # 300 bytes > 250: b goes
    assert loads == ["a", "b", "c"]
    assert cache.keys() == [("run", "a"), ("run", "c")]
    assert cache.total_bytes() == 200


def test_cache_keeps_one_model_even_when_it_alone_is_over_budget():
    cache = ModelCache(max_bytes=10)
    cache.get(("run", "big"), lambda: fake_variant(1000))
    assert cache.keys() == [("run", "big")]


def test_every_variant_of_a_finished_run_answers_with_probabilities(home_with_run):
    refs = playground.run_variants(home_with_run)
    assert list(refs) == ["teacher", "teacher-int8", "teacher-ort", "teacher-ort-int8", "student", "student-int8",
                          "student-ort", "student-ort-int8", "control", "control-ort"]
    cache = ModelCache()
    for variant in refs:
        answer = playground.classify(home_with_run, variant, "Great value, works as described.", cache=cache)
        assert answer.labels == ["great", "other"]
        assert sum(answer.probs) == pytest.approx(1.0, abs=1e-5)
        assert answer.top in answer.labels and answer.ms > 0
    assert len(cache.keys()) == 10


def test_int8_variants_are_quantized_and_smaller(home_with_run):
    cache = ModelCache()
    fp32 = playground.loaded(home_with_run, "student", cache)
    int8 = playground.loaded(home_with_run, "student-int8", cache)
    assert int8.weight_bytes < fp32.weight_bytes


def test_an_empty_text_is_refused_by_name(home_with_run):
    with pytest.raises(DistillLabError) as err:
        playground.classify(home_with_run, "student", "   ")
    assert err.value.field == "text"


def test_a_run_without_results_says_so(isolated_home):
    from distill_core.runs import store

    record = store.create_run({"name": "fresh"})
    with pytest.raises(DistillLabError, match="no results yet"):
        playground.run_variants(record.id)


def test_teacher_logits_match_the_teachers_answer(home_with_run):
    labels, logits = playground.teacher_logits(home_with_run, "Broke after a day.")
    answer = playground.classify(home_with_run, "teacher", "Broke after a day.")
    assert labels == answer.labels
    assert logits == pytest.approx(answer.logits, abs=1e-5)
