"""The layer-importance scan of a causal-LM teacher on a few of the run's packed training blocks
(models/layer_importance.py)."""

from __future__ import annotations

import torch

from distill_core.core.config import RunConfig
from distill_core.models.layer_importance import LayerScan, block_influence, suggest_layers
from distill_core.models.students import kept_layers
from distill_core.tasks.causal_lm import teacher as lm_teacher
from distill_core.tasks.causal_lm.data import load_lm_data

BATCH = 4


def scan_teacher(config: RunConfig, texts: int = 16, device: str = "cpu") -> LayerScan:
    """Block influence of the teacher over the first `texts` training blocks (of max_length tokens each), and the
    as many blocks as the config's student keeps, suggested by it."""
    ref = lm_teacher.resolve(config.teacher.model)
    tokenizer = lm_teacher.load_tokenizer(ref, config.teacher.trust_remote_code)
    data = load_lm_data(config.data, config.lm, config.max_length, tokenizer, config.data.seed)
    blocks = data.train[:texts]
    model = lm_teacher.load_causal_lm(ref, config.teacher.trust_remote_code)
    batches = [(blocks[i:i + BATCH], torch.ones_like(blocks[i:i + BATCH])) for i in range(0, len(blocks), BATCH)]
    influence, tokens = block_influence(model, batches, device)
    configured = kept_layers(config.student, len(influence))
    return LayerScan(influence, suggest_layers(influence, len(configured)), configured, tokens,
                     len(blocks), config.teacher.model)
