"""Teacher preparation: load a trained classifier, or fine-tune a base encoder once and cache it.

A fine-tuned teacher is cached under the data folder, keyed by a fingerprint of the base model, the train and
validation data and the fine-tune settings, and reused by every later run. Its held-out accuracy is stored with it.

With `teacher.finetune_layers` the embeddings and the blocks below stay frozen and in eval mode (a fixed feature
extractor: no dropout there; benchmarks/bench_teacher_prep.py measures what that and the stored outputs save).
Their outputs are computed once per input (models/frozen_features.py) when they fit in memory, so the steps, the
validations and the labeling of the texts the run asks for (`label`) run the trained blocks only.
"""

from __future__ import annotations

import contextlib
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
from distill_core.models.frozen_features import FrozenFeatures, frozen_in_eval
from distill_core.models.weight_selection import Widths
from distill_core.tasks.classification import teacher_cache
from distill_core.tasks.classification import train as distill
from distill_core.tasks.classification.data import Splits, encode
from distill_core.training.loop import steps_for_epochs
from distill_core.training.parallel import SINGLE, Processes

FEATURE_MEMORY_SHARE = 0.25  # frozen-block outputs are stored when they need at most this share of free memory
FEATURE_MEMORY_CAP = 2 * 2**30  # and at most this many bytes


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
    best checkpoint, the labels and the texts; and that frozen blocks train in eval mode)."""
    t = config.teacher
    h = hashlib.sha256()
    h.update(_model_identity(models.resolve(t.model)).encode())
    if t.finetune_epochs > 0:
        h.update(json.dumps([t.finetune_epochs, t.finetune_lr, t.finetune_layers, config.batch_size,
                             config.max_length, config.data.seed, config.freeze_embeddings, splits.label_names,
                             config.budget.eval_every]).encode())
        if t.finetune_layers:
            h.update(b"frozen parts in eval mode")
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
                    should_stop=None, processes: Processes = SINGLE,
                    label: tuple[list[str], ...] = ()) -> PreparedTeacher:
    """The teacher for this run, fine-tuning (and caching) it first when `teacher.finetune_epochs` > 0. Several
    `processes` fine-tune it together; the main one checks and writes the cache. `label`: text lists whose logits
    the run will ask the teacher-output cache for; a fine-tune computes and stores them while its frozen-block
    outputs are at hand (nothing happens for them when the teacher comes from the cache)."""
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
    frozen = 0
    if t.finetune_layers:
        # Freezing the lower blocks also skips their backward pass: 4 of 6 frozen halves a step's time.
        blocks = models.encoder_layers(model)
        frozen = max(0, len(blocks) - t.finetune_layers)
        for block in list(blocks)[:frozen]:
            block.requires_grad_(False)
        base = getattr(model, model.base_model_prefix, model)
        getattr(base, "embeddings", model.get_input_embeddings()).requires_grad_(False)
    ids = encode(tokenizer, splits.train.texts, config.max_length)
    val_ids = encode(tokenizer, splits.validation.texts, config.max_length)
    started = time.monotonic()
    features, feature_record = _frozen_features(model, frozen, ids + val_ids, tokenizer.pad_token_id, device,
                                                processes, on_progress)
    spec = distill.TrainSpec(
        steps=steps_for_epochs(len(ids), config.batch_size, t.finetune_epochs), minutes=None,
        batch_size=config.batch_size, learning_rate=t.finetune_lr, alpha=0.0,
        eval_every=config.budget.eval_every, seed=config.data.seed)
    fixed = features.active() if features else frozen_in_eval(model, frozen) if frozen else contextlib.nullcontext()
    with fixed:
        result = distill.train(model, "teacher-finetune", ids, np.array(splits.train.labels), tokenizer.pad_token_id,
                               spec, val_ids, np.array(splits.validation.labels), device=device,
                               on_progress=on_progress, should_stop=should_stop, processes=processes)
        if result.stopped == "cancelled":
            from distill_core.core.errors import RunCancelled

            raise RunCancelled("cancelled while fine-tuning the teacher; nothing was cached")
        labeled = _label(model, fp, label, tokenizer, config.max_length, device, on_progress) \
            if processes.world == 1 else {}
    info = {"base_model": t.model, "epochs": t.finetune_epochs, "steps": result.steps,
            "seconds": time.monotonic() - started, "examples_per_s": result.examples_per_s,
            "val_accuracy": result.best_val_accuracy, "history": result.history,
            "label_names": splits.label_names, "frozen_features": feature_record, "labeled": labeled}
    if processes.is_main:
        with replacing(folder) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            (tmp / "teacher.json").write_text(json.dumps(info, indent=2))
    processes.wait()  # the others load the teacher from the folder next
    return PreparedTeacher(str(folder), fp, finetuned=True, cached=False, info=info)


def _frozen_features(model, frozen: int, ids: list[list[int]], pad_id: int, device: str, processes: Processes,
                     on_progress) -> tuple[FrozenFeatures | None, dict]:
    """The frozen part's outputs on `ids` computed once, or None; and a record of what was done and why."""
    import psutil

    from distill_core.core.progress import ProgressEvent

    if not frozen:
        return None, {"used": False, "why_not": "no frozen blocks (teacher.finetune_layers)"}
    if processes.world > 1:
        return None, {"used": False, "why_not": "several processes fine-tune the teacher"}
    distinct = {tuple(x) for x in ids}
    needed = FrozenFeatures.bytes_needed(distinct, Widths.of(model.config).hidden)
    allowed = min(FEATURE_MEMORY_CAP, int(FEATURE_MEMORY_SHARE * psutil.virtual_memory().available))
    record = {"frozen_blocks": frozen, "inputs": len(distinct), "bytes": needed}
    if needed > allowed:
        return None, record | {"used": False, "why_not": f"they need {needed / 2**20:.0f} MiB; {allowed / 2**20:.0f} "
                                                            "MiB is allowed"}
    if on_progress is not None:
        on_progress(ProgressEvent("teacher-finetune", 0, None, 0.0,
                                  message=f"computing the {frozen} frozen blocks' outputs once"))
    started = time.monotonic()
    model.to(device)  # where it trains next: the stored outputs are computed there (and kept on the CPU)
    features = FrozenFeatures(model, frozen)
    with frozen_in_eval(model, frozen):
        features.compute(ids, pad_id, device=device)
    why_not = features.check(ids[:8], pad_id, device)
    record |= {"seconds": time.monotonic() - started}
    if why_not:
        return None, record | {"used": False, "why_not": f"the model gives other logits with them: {why_not}"}
    return features, record | {"used": True}


def _label(model, fp: str, label: tuple[list[str], ...], tokenizer, max_length: int, device: str,
           on_progress) -> dict:
    """Store the fine-tuned teacher's logits on each text list of `label` in the teacher-output cache (under the keys
    the run will look up); {"texts": how many, "seconds"}."""
    from distill_core.core.progress import ProgressEvent

    started, count = time.monotonic(), 0
    for texts in label:
        if not texts:
            continue
        if on_progress is not None:
            on_progress(ProgressEvent("teacher-outputs", 0, len(texts), 0.0,
                                      message="teacher labels the training data"))
        teacher_cache.teacher_outputs(fp, model, encode(tokenizer, texts, max_length), texts, max_length,
                                      tokenizer.pad_token_id, device=device)
        count += len(texts)
    return {"texts": count, "seconds": time.monotonic() - started}
