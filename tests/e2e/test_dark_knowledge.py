"""The courses-fields preset's real teacher (MiniLM fine-tuned on eight fields) has dark knowledge to teach: what the
Learn page shows on it holds for most held-out titles, not only for a picked one."""

import pytest

from distill_core.tasks import presets


@pytest.fixture(scope="session")
def courses_run(tmp_path_factory):
    """(data folder, run id) of one finished courses-fields run: the preset's teacher and fine-tune (about a minute
    on 2 cores), a student of a few steps and one seed, not measured: the teacher is what the tests need."""
    from distill_core.runs import store, worker
    from distill_core.runs.pipeline import run_experiment

    config = presets.get_preset("courses-fields")
    config.seeds, config.learning_rate_candidates, config.measure = 1, [], False
    config.budget.value = 4  # eval_every stays: it picks the teacher's checkpoint, so it keys the teacher too
    home = tmp_path_factory.mktemp("courses-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_LAB_HOME", str(home))
        record = store.create_run(config.to_dict())
        results = run_experiment(config, record.folder)
        store.finish(record.id, "done", summary=worker.summarize(results))
    return home, record.id


@pytest.mark.e2e
def test_the_multiclass_teacher_puts_5_percent_on_a_runner_up_at_t4_for_most_titles(courses_run, monkeypatch):
    from distill_core.tasks.classification.data import builtin_test_texts
    from distill_core.views import learn, playground

    home, run_id = courses_run
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    texts = builtin_test_texts("courses")
    runner_up = []
    for text in texts:
        labels, logits = playground.teacher_logits(run_id, text)  # what the Learn page draws
        runner_up.append(learn.second_best(learn.soft_targets(logits, 4.0)))
    assert len(labels) == 8
    share = sum(p >= 0.05 for p in runner_up) / len(runner_up)
    assert share >= 0.8, f"only {share:.0%} of {len(texts)} titles have a runner-up at >= 5% (T = 4)"
    # The teacher has learned the fields, not just spread its bets: it is well above chance (1 in 8).
    import json

    from distill_core.runs import store

    results = json.loads((store.get_run(run_id).folder / "results.json").read_text())
    assert results["quality"]["variants"]["teacher"]["accuracy"] >= 0.6


@pytest.mark.e2e
def test_learn_page_ranks_the_wrong_fields_of_the_multiclass_teacher(courses_run, monkeypatch):
    from tests.ui.test_pages import open_page

    home, run_id = courses_run
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    at = open_page("app_pages/learn.py", {"run_id": run_id})
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert len(table) == 7  # the seven wrong fields, each with its probability
    assert any(c.value.startswith("With 8 classes the wrong labels are ranked") for c in at.caption)
