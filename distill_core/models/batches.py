"""The batch every model here takes: token-id rows right-padded to the longest, with their attention mask; and
batches of similar length, so little of it is padding."""

from __future__ import annotations

import numpy as np


def sorted_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Index batches sorted by length, for inference (minimum padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(ids: list[list[int]], pad_id: int):
    """(input_ids, attention_mask) long tensors padded to the longest sequence in the batch. Shapes: (batch, seq).
    torch is imported here, not at the top: the classification data module re-exports this, and New run's form
    imports that module without needing torch."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return input_ids, mask
