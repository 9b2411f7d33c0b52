"""Teacher preparation: load a trained classifier, or fine-tune a base encoder once and cache it.

A fine-tuned teacher is cached under the data folder, keyed by a fingerprint of the base model, the train and
validation data and the fine-tune settings, and reused by every later run. Its held-out accuracy is stored with it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from distill_core.core.atomic import replacing
from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.core.home import cache_dir
from distill_core.models import loading as models
from distill_core.tasks.classification import train as distill
from distill_core.tasks.classification.data import Splits, encode
from distill_core.training.loop import steps_for_epochs
from distill_core.training.parallel import SINGLE, Processes


@dataclass
class PreparedTeacher:
    model_ref: str  # what to load: the cached folder, or the user's reference
    fingerprint: str  # identifies the exact teacher weights (keys the teacher-output cache)
    finetuned: bool
    cached: bool  # True when a cached fine-tune was reused
    info: dict  # fine-tune record: seconds, validation accuracy, ...

    def to_dict(self) -> dict:
        return asdict(self)


def _model_identity(resolved: str) -> str:
    """A cheap identity of a model's weights: local file names and sizes, or the hub id."""
    path = Path(resolved)
    if not path.is_dir():
        return resolved
    files = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
    return json.dumps([str(path), files])


def teacher_fingerprint(config: RunConfig, splits: Splits) -> str:
    """Identifies the prepared teacher: its base model and, when fine-tuned, everything the fine-tune reads (its
    settings, the batch size, length, data seed, embeddings frozen or not, the validation interval that picks its
    best checkpoint, the labels and the texts)."""
    t = config.teacher
    h = hashlib.sha256()
    h.update(_model_identity(models.resolve(t.model)).encode())
    if t.finetune_epochs > 0:
        h.update(json.dumps([t.finetune_epochs, t.finetune_lr, t.finetune_layers, config.batch_size,
                             config.max_length, config.data.seed, config.freeze_embeddings, splits.label_names,
                             config.budget.eval_every]).encode())
        h.update(json.dumps([splits.train.texts, splits.train.labels, splits.validation.texts]).encode())
    return h.hexdigest()[:20]


def _cached_teacher(folder: Path, fp: str) -> PreparedTeacher | None:
    """The fine-tuned teacher cached in `folder`, or None (a damaged cache is removed, to be rebuilt)."""
    record_path = folder / "teacher.json"
    if not record_path.exists():
        return None
    try:
        info = json.loads(record_path.read_text())
        if not models.cached_model_intact(folder):
            raise ValueError("truncated or overwritten weights")
        return PreparedTeacher(str(folder), fp, finetuned=True, cached=True, info=info)
    except (OSError, ValueError, DistillLabError):
        shutil.rmtree(folder, ignore_errors=True)
        return None


def prepare_teacher(config: RunConfig, splits: Splits, device: str = "cpu", on_progress=None,
                    should_stop=None, processes: Processes = SINGLE) -> PreparedTeacher:
    """The teacher for this run, fine-tuning (and caching) it first when `teacher.finetune_epochs` > 0. Several
    `processes` fine-tune it together; the main one checks and writes the cache."""
    t = config.teacher
    fp = teacher_fingerprint(config, splits)
    if t.finetune_epochs <= 0:
        model = models.load_classifier(t.model, splits.label_names, t.trust_remote_code)
        if models.trained_labels(model.config) is None:
            raise DistillLabError(f"teacher '{t.model}' has no trained classification head; set "
                                  "teacher.finetune_epochs > 0 to fine-tune one on the training split first",
                                  "teacher.finetune_epochs")
        return PreparedTeacher(t.model, fp, finetuned=False, cached=False, info={})

    folder = cache_dir("teachers") / fp
    cached = processes.main_first(lambda: _cached_teacher(folder, fp))
    if cached is not None:
        return cached

    model = models.load_classifier(t.model, splits.label_names, t.trust_remote_code)
    tokenizer = models.load_tokenizer(t.model, t.trust_remote_code)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if t.finetune_layers:
        # Freezing the lower blocks also skips their backward pass: 4 of 6 frozen halves a step's time.
        blocks = models.encoder_layers(model)
        for block in list(blocks)[:max(0, len(blocks) - t.finetune_layers)]:
            block.requires_grad_(False)
        base = getattr(model, model.base_model_prefix, model)
        getattr(base, "embeddings", model.get_input_embeddings()).requires_grad_(False)
    ids = encode(tokenizer, splits.train.texts, config.max_length)
    val_ids = encode(tokenizer, splits.validation.texts, config.max_length)
    spec = distill.TrainSpec(
        steps=steps_for_epochs(len(ids), config.batch_size, t.finetune_epochs), minutes=None,
        batch_size=config.batch_size, learning_rate=t.finetune_lr, alpha=0.0,
        eval_every=config.budget.eval_every, seed=config.data.seed)
    started = time.monotonic()
    result = distill.train(model, "teacher-finetune", ids, np.array(splits.train.labels), tokenizer.pad_token_id,
                           spec, val_ids, np.array(splits.validation.labels), device=device,
                           on_progress=on_progress, should_stop=should_stop, processes=processes)
    if result.stopped == "cancelled":
        from distill_core.core.errors import RunCancelled

        raise RunCancelled("cancelled while fine-tuning the teacher; nothing was cached")
    info = {"base_model": t.model, "epochs": t.finetune_epochs, "steps": result.steps,
            "seconds": time.monotonic() - started, "examples_per_s": result.examples_per_s,
            "val_accuracy": result.best_val_accuracy, "history": result.history,
            "label_names": splits.label_names}
    if processes.is_main:
        with replacing(folder) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            (tmp / "teacher.json").write_text(json.dumps(info, indent=2))
    processes.wait()  # the others load the teacher from the folder next
    return PreparedTeacher(str(folder), fp, finetuned=True, cached=False, info=info)

