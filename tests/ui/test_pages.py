"""Every page through Streamlit's AppTest: on an empty store and on a store with a finished, measured run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.runs import store

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGES = ["app_pages/home.py", "app_pages/new_run.py", "app_pages/runs.py", "app_pages/compare.py", "app_pages/playground.py",
         "app_pages/learn.py"]


def open_page(page: str, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if page != "app_pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [i.value for i in at.info] + \
            [c.value for c in at.caption] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_an_empty_store(page):
    at = open_page(page)
    assert at.title, "every page has a title"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_a_finished_run(page, home_with_run):
    at = open_page(page, {"run_id": home_with_run})
    assert not at.error, [e.value for e in at.error]
    if page == "app_pages/home.py":  # AppTest drops the sidebar after switch_page; the browser test checks every page
        sidebar = " ".join(m.value for m in at.sidebar.markdown)
        assert "tiny-ui" in sidebar and "done" in sidebar, "the sidebar shows the active run"
    elif page != "app_pages/new_run.py":
        shown = [str(o) for w in list(at.selectbox) + list(at.multiselect) for o in w.options]
        assert any("tiny-ui" in o for o in shown), f"{page} does not offer the run"


def test_home_lists_the_last_runs_with_their_accuracy(home_with_run):
    at = open_page("app_pages/home.py")
    body = texts(at)
    assert "tiny-ui" in body and "student" in body and "%" in body


VERDICT_WORDS = ("the teacher helped", "no measurable effect", "the teacher hurt")


def _gain(run_id: str) -> dict:
    import json

    return json.loads((store.get_run(run_id).folder / "results.json").read_text())["quality"]["gain"]


def test_home_shows_the_verdict_next_to_the_gain(home_with_run):
    at = open_page("app_pages/home.py")
    gain = _gain(home_with_run)
    caption = next(c.value for c in at.caption if c.value.startswith("distillation gain"))
    assert caption.endswith(gain["verdict_text"]) and "points (" in caption


def test_runs_table_has_the_verdict_column(home_with_run):
    at = open_page("app_pages/runs.py", {"run_id": home_with_run})
    table = at.dataframe[0].value
    assert {"gain", "verdict"} <= set(table.columns)
    assert table["verdict"].iloc[0] == _gain(home_with_run)["verdict_text"]
    assert table["gain"].iloc[0].endswith(")") and "points" in table["gain"].iloc[0]  # with its interval
    assert any(m.value.startswith("**Verdict:**") for m in at.markdown)


def test_runs_page_shows_the_runs_warnings(home_with_run):
    import json

    results = json.loads((store.get_run(home_with_run).folder / "results.json").read_text())
    warnings = results["warnings"]
    assert warnings  # the tiny random teacher is no better than the majority class
    at = open_page("app_pages/runs.py", {"run_id": home_with_run})
    shown = [w.value for w in at.warning]
    assert shown[:len(warnings)] == [w[0].upper() + w[1:] + "." for w in warnings]
    assert all(w.startswith("the ") for w in warnings)  # every warning is a sentence from teacher_check
    assert results["preflight"]["teacher_check"]["validation_accuracy"] >= 0


def test_home_workshop_button_queues_one_run_and_opens_runs(no_workers):
    at = open_page("app_pages/home.py")
    at.button[0].click().run()
    runs = store.list_runs()
    assert len(runs) == 1 and runs[0].name == "reviews-sentiment" and runs[0].status == "queued"
    assert at.session_state["run_id"] == runs[0].id
    at.run()
    assert len(store.list_runs()) == 1


def compose(at: AppTest) -> AppTest:
    at.segmented_control(key="mode").set_value("Compose").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def compose_with_local_teacher(teacher_dir) -> AppTest:
    """New run in Compose mode with the tiny teacher from a local folder, used as it is (no fine-tune)."""
    at = compose(open_page("app_pages/new_run.py"))
    at.radio(key="w:teacher_origin").set_value("local folder").run()
    at.text_input(key="w:teacher_ref").set_value(str(teacher_dir)).run()
    at.number_input(key="w:finetune_epochs").set_value(0.0).run()
    return at


def start_button(at: AppTest):
    return next(b for b in at.button if b.label == "Start run")


def test_new_run_fits_a_presets_feed_forward_width_to_a_narrower_teacher(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)  # the workshop preset's shrink student: feed-forward 1,024
    assert at.radio(key="w:student_kind").value == "shrink"
    assert at.number_input(key="w:intermediate_size").value == 0  # the tiny teacher's is 64
    assert any("Feed-forward width 1024 is wider than this teacher's 64" in c.value for c in at.caption)
    assert not at.error, [e.value for e in at.error]
    at.number_input(key="w:intermediate_size").set_value(128).run()  # typed for this teacher: refused by name
    assert at.number_input(key="w:intermediate_size").value == 128
    assert any("feed-forward width 128 is above the teacher's 64" in e.value for e in at.error)


def test_new_run_compose_starts_exactly_one_run_even_after_reruns(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    at.text_input(key="w:name").set_value("from-the-page").run()
    assert not at.error, [e.value for e in at.error]
    assert "Estimated speedup" in [m.label for m in at.metric]
    assert not start_button(at).disabled
    start_button(at).click().run()
    at.run()
    at.run()
    runs = store.list_runs()
    assert [r.name for r in runs] == ["from-the-page"]
    assert runs[0].status == "queued"
    assert store.get_run(runs[0].id).config["teacher"]["model"] == str(tiny_teacher_dir)
    assert "queued" in texts(at)


def test_new_run_sets_seeds_data_seed_and_control_budget(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    seeds = at.number_input(key="w:seeds")
    assert seeds.min == 1 and seeds.max == 20 and "verdict you can trust" in seeds.help
    seeds.set_value(4).run()
    at.number_input(key="w:data_seed").set_value(7).run()
    at.selectbox(key="w:control_budget").set_value("teacher-compute").run()
    assert not at.error, [e.value for e in at.error]
    assert any("4 training seeds" in i.value for i in at.info)  # the pre-flight says what they cost
    assert any("teacher's labeling passes" in c.value for c in at.caption)
    start_button(at).click().run()
    config = store.get_run(store.list_runs()[0].id).config
    assert (config["seeds"], config["data"]["seed"], config["control_budget"]) == (4, 7, "teacher-compute")


def test_new_run_tunes_learning_rates_alike_and_caps_the_students_labels(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    rates = at.text_input(key="w:lr_candidates")
    assert "the same rates and split for both" in rates.help
    rates.set_value("1e-4, 5e-4").run()
    at.number_input(key="w:student_labels").set_value(40).run()
    assert not at.error, [e.value for e in at.error]
    assert any("2 learning rates to try" in i.value for i in at.info)  # the pre-flight says what they cost
    start_button(at).click().run()
    config = store.get_run(store.list_runs()[0].id).config
    assert config["learning_rate_candidates"] == [1e-4, 5e-4] and config["data"]["student_labels"] == 40


def test_new_run_names_the_field_of_a_rate_that_is_not_a_number(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    at.text_input(key="w:lr_candidates").set_value("1e-4, fast").run()
    errors = " ".join(e.value for e in at.error)
    assert "learning_rate_candidates" in errors
    assert start_button(at).disabled


def test_new_run_blocks_a_student_with_another_label_space(no_workers, tiny_teacher_dir, tmp_path):
    from tests.support.runs import make_tiny_classifier

    other = make_tiny_classifier(tmp_path / "three-labels", layers=2, labels=["pos", "neg", "neutral"])
    at = compose_with_local_teacher(tiny_teacher_dir)
    at.radio(key="w:student_kind").set_value("model").run()
    at.text_input(key="w:student_model").set_value(str(other)).run()
    errors = " ".join(e.value for e in at.error)
    assert "student.model" in errors and "label space" in errors
    assert start_button(at).disabled
    assert store.list_runs() == []


def _pickle_only_folder(tiny_teacher_dir, folder):
    shutil.copytree(tiny_teacher_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    return str(folder)


@pytest.mark.parametrize("origin, ref, message", [
    ("local folder", "/no/such/model/folder", "is not a folder"),
    ("hub id", "no-such-org/no-such-model", "not in the local Hugging Face cache while the hub is unreachable"),
    ("local folder", "EMPTY", "config.json"),
    ("local folder", "PICKLE", "safetensors"),
], ids=["missing folder", "unknown hub id offline", "folder without a model", "pickle-only weights"])
def test_new_run_names_teacher_model_for_a_model_it_cannot_load(no_workers, tiny_teacher_dir, tmp_path, origin, ref,
                                                                message):
    ref = {"EMPTY": str(tmp_path), "PICKLE": _pickle_only_folder(tiny_teacher_dir, tmp_path / "pickled")}.get(ref, ref)
    at = compose(open_page("app_pages/new_run.py"))
    at.radio(key="w:teacher_origin").set_value(origin).run()
    at.text_input(key="w:teacher_ref").set_value(ref).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "**teacher.model**" in errors and message in errors, errors
    assert start_button(at).disabled
    assert store.list_runs() == []


def test_runs_page_rerun_with_edits_prefills_new_run(home_with_run):
    at = open_page("app_pages/runs.py", {"run_id": home_with_run})
    next(b for b in at.button if b.label == "Re-run with edits").click().run()
    assert not at.exception
    at.switch_page("app_pages/new_run.py").run()
    assert at.text_input(key="w:name").value == "tiny-ui-edit"


def test_runs_page_cancels_a_queued_run(no_workers, tiny_teacher_dir):
    from distill_core.runs import jobs
    from tests.support.runs import tiny_run_config

    run_id = jobs.submit(tiny_run_config(tiny_teacher_dir, name="waiting"))
    at = open_page("app_pages/runs.py", {"run_id": run_id})
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert store.get_run(run_id).status == "cancelled"


def test_runs_page_stops_and_deletes_a_running_run_only_after_the_confirmation(no_workers, tiny_teacher_dir):
    from distill_core.runs import jobs
    from tests.support.runs import tiny_run_config

    run_id = jobs.submit(tiny_run_config(tiny_teacher_dir, name="training"))
    assert store.claim(run_id, 1, None) == "claimed"
    folder = store.get_run(run_id).folder
    at = open_page("app_pages/runs.py", {"run_id": run_id})
    delete = next(b for b in at.button if b.label == "Stop and delete")
    assert delete.disabled, "not without the confirmation tick"
    at.checkbox(key=f"confirm-{run_id}").check().run()
    next(b for b in at.button if b.label == "Stop and delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.list_runs() == [] and not folder.exists()


def test_compare_draws_the_scatter_and_offers_every_export(home_with_run):
    at = open_page("app_pages/compare.py", {"run_id": home_with_run})
    charts = at.get("plotly_chart")
    assert len(charts) >= 2
    assert at.selectbox(key="quality_metric").value == "accuracy"
    assert at.selectbox(key="cost_metric").value == "p50_ms_batch1"
    labels = [d.proto.label for d in at.get("download_button")]
    assert any("HTML" in label for label in labels) and "CSV" in labels and "JSON" in labels
    assert any(".zip" in label for label in labels)


def test_compare_draws_latency_error_bars_and_the_gain_per_seed(home_with_run):
    import json

    at = open_page("app_pages/compare.py", {"run_id": home_with_run})
    scatter = json.loads(at.get("plotly_chart")[0].proto.spec)
    teacher = next(t for t in scatter["data"] if t.get("name") == "teacher")
    bench = json.loads((store.get_run(home_with_run).folder / "bench.json").read_text())
    b1 = next(r for r in bench["variants"]["teacher"]["latency"] if r["setting"] == "real" and r["batch_size"] == 1)
    assert teacher["x"] == [pytest.approx(b1["p50_ms"])]
    assert teacher["error_x"]["array"] == [pytest.approx(b1["p50_high_ms"] - b1["p50_ms"])]
    assert teacher["error_x"]["arrayminus"] == [pytest.approx(b1["p50_ms"] - b1["p50_low_ms"])]
    gain = _gain(home_with_run)
    assert any(m.value.startswith(f"**{gain['verdict_text']}: ") for m in at.markdown)
    seed_table = next(d.value for d in at.dataframe if "seed" in d.value.columns)
    assert list(seed_table["seed"]) == [str(s) for s in gain["seeds"]]
    retention = next(d.value for d in at.dataframe if "distillation gain" in d.value.columns)
    student = retention[retention["variant"] == "student"].iloc[0]
    assert student["distillation gain"].endswith(gain["verdict_text"])
    speed = next((d.value for d in at.dataframe if "speedup over teacher, batch 1 (x)" in d.value.columns), None)
    assert speed is not None and all(c.endswith(")") for c in speed["speedup over teacher, batch 1 (x)"])


def test_compare_warns_when_a_run_was_measured_on_a_contended_host(home_with_run):
    import json

    path = store.get_run(home_with_run).folder / "bench.json"
    bench = json.loads(path.read_text())
    bench["conditions"].update(contended_throughout=False, contention_note="2 of 12 rounds left out: contended")
    path.write_text(json.dumps(bench))
    at = open_page("app_pages/compare.py", {"run_id": home_with_run})
    assert not any("contended" in w.value for w in at.warning)  # rounds left out: the figures are a quiet host's
    bench["conditions"].update(contended_throughout=True, contention_note="the host was contended in 9 of 12 rounds")
    path.write_text(json.dumps(bench))
    at = open_page("app_pages/compare.py", {"run_id": home_with_run})
    from app_pages.shared import run_label

    label = run_label(store.get_run(home_with_run))
    assert [w.value for w in at.warning if "contended" in w.value] == \
        [f"{label}: The host was contended in 9 of 12 rounds."]


def test_playground_answers_with_every_variant(home_with_run):
    at = open_page("app_pages/playground.py", {"run_id": home_with_run})
    at.text_area[0].set_value("A sturdy kettle that boils fast.").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    answers = [m for m in at.metric if m.label == "answer"]
    assert len(answers) == 10  # five variants on PyTorch, five on ONNX Runtime (the run measured both)
    assert {a.value for a in answers} <= {"great", "other"}


def test_compare_leads_with_the_runs_headline_figures(home_with_run):
    from distill_core.core.run_files import read_json
    from distill_core.views import compare, headline

    at = open_page("app_pages/compare.py", {"run_id": home_with_run})
    rows = compare.results_table([home_with_run]).rows
    expected = headline.headline_figures(rows, read_json(store.get_run(home_with_run).folder, "results.json"))
    assert [f.label for f in expected] == ["Speed", "Size", "Quality kept", "Did the teacher help?"]
    shown = {m.label: m.value for m in at.metric}
    assert all(shown[f.label] == f.value for f in expected)
    student = next(r for r in rows if r["variant"] == "student")
    assert shown["Quality kept"] == f"{student['retention']:.1%}"


def test_playground_shows_where_the_teacher_helped_by_class(home_with_run):
    from distill_core.views import teacher_helped

    at = open_page("app_pages/playground.py", {"run_id": home_with_run})
    assert not at.exception, [e.value for e in at.exception]
    found = teacher_helped.disagreements(home_with_run)
    assert found.examples > 0 and any(h.value == "Where the teacher helped" for h in at.subheader)
    assert any(m.value == found.summary() for m in at.markdown)
    tables = [d.value for d in at.dataframe]
    assert [len(t) for t in tables] == [found.counts["student_only"], found.counts["control_only"]]
    label = found.label_names[0]
    at.selectbox(key="helped_class").set_value(label).run()
    only = teacher_helped.disagreements(home_with_run, label)
    assert any(m.value == only.summary() for m in at.markdown)
    assert all(set(d.value["true class"]) <= {label} for d in at.dataframe)


def test_learn_shows_the_real_teachers_soft_targets(home_with_run):
    at = open_page("app_pages/learn.py", {"run_id": home_with_run})
    assert at.get("plotly_chart")
    labels = [m.label for m in at.metric]
    assert "Entropy at T = 1" in labels and any(label.startswith("Cross-entropy") for label in labels)
    # It starts on a held-out example of the run's data, and its dark-knowledge note fits a two-class teacher.
    from distill_core.views import playground

    assert at.text_input(key=f"learn_text:{home_with_run}").value in playground.example_texts(home_with_run)
    assert any(c.value.startswith("With two classes") for c in at.caption)


@pytest.mark.parametrize("page", ["app_pages/home.py", "app_pages/runs.py", "app_pages/compare.py", "app_pages/learn.py"])
def test_pages_render_a_causal_lm_run(page, home_with_lm_run):
    at = open_page(page, {"run_id": home_with_lm_run})
    assert not at.error, [e.value for e in at.error]
    if page == "app_pages/home.py":
        assert "perplexity" in texts(at)
    if page == "app_pages/compare.py":
        assert at.get("plotly_chart")
        assert at.selectbox(key="quality_metric").value == "perplexity"
        assert at.selectbox(key="cost_metric").value in ("prefill_ms", "decode_tokens_per_s")


def test_playground_continues_a_prompt_with_every_lm_variant(home_with_lm_run):
    at = open_page("app_pages/playground.py", {"run_id": home_with_lm_run})
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rates = [c.value for c in at.caption if "tokens/s" in c.value]
    assert len(rates) == 5


def test_new_run_blocks_a_causal_lm_student_with_another_vocabulary(no_workers, tmp_path):
    from tests.support.lm import make_tiny_lm

    teacher = make_tiny_lm(tmp_path / "teacher", vocab_size=400)
    other = make_tiny_lm(tmp_path / "other", vocab_size=300)
    at = compose(open_page("app_pages/new_run.py"))
    at.segmented_control(key="w:task").set_value("causal-lm").run()
    at.radio(key="w:teacher_origin").set_value("local folder").run()
    at.text_input(key="w:teacher_ref").set_value(str(teacher)).run()
    at.radio(key="w:student_kind").set_value("model").run()
    at.text_input(key="w:student_model").set_value(str(other)).run()
    errors = " ".join(e.value for e in at.error)
    assert "student.model" in errors and "vocab" in errors
    assert start_button(at).disabled


def test_new_run_sets_the_causal_lm_unlikelihood_weight(no_workers, tmp_path):
    from tests.support.lm import make_tiny_lm

    teacher = make_tiny_lm(tmp_path / "teacher", vocab_size=400)
    at = compose(open_page("app_pages/new_run.py"))
    at.segmented_control(key="w:task").set_value("causal-lm").run()
    at.radio(key="w:teacher_origin").set_value("local folder").run()
    at.text_input(key="w:teacher_ref").set_value(str(teacher)).run()
    weight = at.number_input(key="w:unlikelihood")
    assert weight.value == at.session_state["draft"]["lm"]["unlikelihood"] and "Welleck" in weight.help
    weight.set_value(1.5).run()
    assert not at.exception and at.session_state["draft"]["lm"]["unlikelihood"] == 1.5


def test_server_defaults_are_local_and_limit_uploads_like_the_loader():
    import tomllib

    from distill_core.core.textfiles import MAX_UPLOAD_BYTES

    config = tomllib.loads((APP.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES  # Streamlit counts MiB
    assert config["browser"]["gatherUsageStats"] is False


@pytest.mark.parametrize("page", PAGES)
def test_pages_survive_a_run_whose_saved_files_are_damaged(page, home_with_run, monkeypatch):
    from distill_core.views import playground

    monkeypatch.setattr(playground, "_CACHE", playground.ModelCache())  # other tests' copies share this run id
    folder = store.get_run(home_with_run).folder
    for name in ("results.json", "bench.json", "history.json", "config.json", "preflight.json"):
        path = folder / name
        path.write_bytes(path.read_bytes()[:40])  # cut off mid-way, as by a crash outside our atomic writes
    at = open_page(page, {"run_id": home_with_run})
    assert not at.exception, [e.value for e in at.exception]
    if page in ("app_pages/playground.py", "app_pages/learn.py"):  # they need the files: they say which one is damaged
        assert any("results.json is damaged" in e.value for e in at.error), [e.value for e in at.error]


def test_new_run_sets_processes_and_precision(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    processes = at.number_input(key="w:processes")
    assert processes.value == 1 and processes.max == 64 and "DDP" in processes.help
    processes.set_value(2).run()
    assert any("2 CPU processes share the" in c.value for c in at.caption)  # this machine has no GPU
    at.selectbox(key="w:precision").set_value("fp16").run()
    assert any("fp16 needs a GPU" in e.value for e in at.error)
    at.selectbox(key="w:precision").set_value("bf16").run()
    assert not at.error, [e.value for e in at.error]
    start_button(at).click().run()
    config = store.get_run(store.list_runs()[0].id).config
    assert (config["processes"], config["precision"], config["device"]) == (2, "bf16", "auto")


def test_new_run_trims_the_students_vocabulary_when_ticked_for_classification_only(no_workers, tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    trim = at.checkbox(key="w:trim_vocab")
    assert trim.label == "Trim the vocabulary to the data's tokens" and "WordPiece" in trim.help
    trim.check().run()
    assert any("vocabulary is trimmed when the run starts" in i.value for i in at.info)  # the pre-flight says so
    start_button(at).click().run()
    assert store.get_run(store.list_runs()[0].id).config["student"]["trim_vocab"] is True
    at.segmented_control(key="w:task").set_value("causal-lm").run()
    assert not [c for c in at.checkbox if c.key == "w:trim_vocab"]


def test_a_shrink_student_from_the_teacher_picks_its_layers_and_feed_forward_width(tiny_teacher_dir):
    """Shrink, weights selected from the teacher: the form offers the teacher layers to start from and the
    feed-forward width, and the draft carries both (as `distill-lab run --set` would)."""
    at = compose_with_local_teacher(tiny_teacher_dir)
    at.radio(key="w:student_kind").set_value("shrink").run()
    assert at.radio(key="w:shrink_init").value == "teacher"
    at.multiselect(key="w:layers").set_value([0, 3]).run()
    at.number_input(key="w:intermediate_size").set_value(32).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    student = at.session_state["draft"]["student"]
    assert (student["kind"], student["layers"], student["num_layers"], student["intermediate_size"]) == \
        ("shrink", [0, 3], 2, 32)
