"""The layer-importance scan of a classification teacher on a few of the run's own training texts
(models/layer_importance.py): the fine-tuned teacher when the cache holds it, else the model as named."""

from __future__ import annotations

from distill_core.core.config import RunConfig
from distill_core.core.home import cache_dir
from distill_core.models import loading as models
from distill_core.models.layer_importance import LayerScan, block_influence, suggest_layers
from distill_core.models.students import kept_layers
from distill_core.tasks.classification.data import encode, load_splits, pad_batch
from distill_core.tasks.classification.teacher import teacher_fingerprint

BATCH = 16


def scan_teacher(config: RunConfig, texts: int = 64, device: str = "cpu") -> LayerScan:
    """Block influence of the run's teacher over the first `texts` training texts at the run's max_length, and the
    as many blocks as the config's student keeps, suggested by it."""
    splits = load_splits(config.data, config.data.seed)
    t = config.teacher
    ref, notes = t.model, []
    if t.finetune_epochs > 0:
        folder = cache_dir("teachers") / teacher_fingerprint(config, splits)
        if models.cached_model_intact(folder):
            ref = str(folder)
            notes.append("the fine-tuned teacher from the cache")
        else:
            notes.append("the base weights: the teacher is not fine-tuned yet (the first run fine-tunes and caches "
                         "it; scan again after it for the fine-tuned blocks)")
    model = models.load_classifier(ref, splits.label_names, t.trust_remote_code)
    tokenizer = models.load_tokenizer(ref, t.trust_remote_code)
    ids = encode(tokenizer, splits.train.texts[:texts], config.max_length)
    batches = [pad_batch(ids[i:i + BATCH], tokenizer.pad_token_id) for i in range(0, len(ids), BATCH)]
    influence, tokens = block_influence(model, batches, device)
    configured = kept_layers(config.student, len(influence))
    return LayerScan(influence, suggest_layers(influence, len(configured)), configured, tokens,
                     len(ids), t.model, notes)
