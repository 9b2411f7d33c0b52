"""A classification run's own steps: a student with a trimmed vocabulary, trained, saved and loaded back."""

import json

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill_core.core.config import StudentConfig
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.classification import evaluate
from distill_core.tasks.classification.data import encode, load_splits


def test_a_trimmed_student_and_its_control_train_save_and_predict_as_in_the_run(tiny_config, tmp_path):
    config = tiny_config.replace(student=StudentConfig(kind="keep-layers", num_layers=2, trim_vocab=True))
    results = run_experiment(config, tmp_path / "run")
    run = tmp_path / "run"
    trim = json.loads((run / "preflight.json").read_text())["vocab_trim"]
    assert trim["tokens_before"] == 30522 and trim["tokens_seen"] < trim["tokens_after"] < 30522
    assert trim["texts"] == results["data"]["train"] + results["data"]["transfer"]
    assert trim["sample_texts"] == results["data"]["validation"]  # measured on validation, chosen on training texts
    costs = results["preflight"]
    assert costs["student"]["weight_bytes"] < costs["teacher"]["weight_bytes"]
    assert f"of {trim['tokens_before']:,} tokens" in costs["student_description"]

    splits = load_splits(config.data, config.data.seed)
    teacher_tok = AutoTokenizer.from_pretrained(config.teacher.model)
    for phase in ("student", "control"):  # the control is built from the same plan: the same trimmed vocabulary
        tok = AutoTokenizer.from_pretrained(run / phase)
        model = AutoModelForSequenceClassification.from_pretrained(run / phase).eval()
        assert model.config.vocab_size == len(tok) == trim["tokens_after"]
        kept = splits.train.texts[:20]
        assert [tok.convert_ids_to_tokens(ids) for ids in encode(tok, kept, config.max_length)] == \
            [teacher_tok.convert_ids_to_tokens(ids) for ids in encode(teacher_tok, kept, config.max_length)]
        logits = evaluate.predict_logits(model, encode(tok, splits.test.texts, config.max_length), tok.pad_token_id)
        accuracy = evaluate.accuracy(logits, torch.as_tensor(splits.test.labels))
        assert accuracy == results["quality"]["variants"][phase]["accuracy"]  # the saved folder is the run's model
