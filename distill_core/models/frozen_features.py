"""Frozen bottom blocks computed once: their outputs stand in for them while the top blocks are fine-tuned.

A teacher fine-tuned with its embeddings and bottom blocks frozen (`teacher.finetune_layers`) runs those blocks
forward on every step, every validation and every later labeling pass, though their output for a given input never
changes. `FrozenFeatures` runs them once per distinct input (token ids, eval mode: frozen blocks are a fixed feature
extractor, so no dropout), keeps their output per input, and while `active()` the model skips them: each frozen
block becomes a pass-through, and the first trained block receives the stored outputs of the batch's rows instead
of what came through. The model's own forward does everything else (masks, rotary positions, its head), so any
architecture whose blocks take the hidden states first and return them works; `check()` compares the logits both
ways on real inputs before the cache is trusted, and the caller falls back to plain training when it fails.

Rows whose token ids were never computed (say, a test text) make that batch run the frozen blocks for real.
"""

from __future__ import annotations

import contextlib
import types

import torch

from distill_core.models import loading as models
from distill_core.models.batches import pad_batch, sorted_batches

BYTES_PER_VALUE = 4  # stored as float32


class _Stop(Exception):
    """Ends a forward pass once the last frozen block has run."""


def _keep_eval(module: torch.nn.Module) -> None:
    """`module` (and what it holds) stays in eval mode whatever `.train()` asks: no dropout in frozen parts."""
    module.eval()
    module.train = types.MethodType(lambda self, mode=True: torch.nn.Module.train(self, False), module)


def _release_eval(module: torch.nn.Module) -> None:
    module.__dict__.pop("train", None)


@contextlib.contextmanager
def frozen_in_eval(model, frozen: int, blocks: list | None = None):
    """While inside, the embeddings and the first `frozen` blocks (or `blocks`) stay in eval mode whatever
    `model.train()` asks: frozen parts are a fixed feature extractor, with or without FrozenFeatures."""
    blocks = blocks if blocks is not None else list(models.encoder_layers(model))[:frozen]
    base = getattr(model, model.base_model_prefix, model)
    parts = [m for m in (model.get_input_embeddings(), getattr(base, "embeddings", None)) if m is not None] + blocks
    for module in parts:
        _keep_eval(module)
    try:
        yield
    finally:
        for module in parts:
            _release_eval(module)


class _PassThrough(torch.nn.Module):
    """A frozen block while the stored outputs stand in: returns its input hidden states untouched, or runs the
    real block when the batch has rows without stored outputs."""

    def __init__(self, block: torch.nn.Module, state: dict):
        super().__init__()
        self.inner = block
        self._state = state

    def forward(self, hidden_states, *args, **kwargs):
        if self._state["batch"] is None:
            return self.inner(hidden_states, *args, **kwargs)
        return hidden_states


class FrozenFeatures:
    """The outputs of `model`'s embeddings and first `frozen` blocks, per distinct input (tuple of token ids):
    (tokens, width) float32 on the CPU."""

    def __init__(self, model, frozen: int):
        self.model, self.frozen = model, frozen
        self.blocks = models.encoder_layers(model)
        if not 0 < frozen < len(self.blocks):
            raise ValueError(f"frozen must be 1 to {len(self.blocks) - 1}, got {frozen}")
        self.stored: dict[tuple[int, ...], torch.Tensor] = {}

    @staticmethod
    def bytes_needed(ids, width: int) -> int:
        """What storing the outputs of `ids` (token-id lists or tuples) costs (bytes): one float32 per token and width,
        per distinct input."""
        return sum(len(x) for x in {tuple(x) for x in ids}) * width * BYTES_PER_VALUE

    @torch.inference_mode()
    def compute(self, ids: list[list[int]], pad_id: int, batch_size: int = 64, device: str = "cpu") -> None:
        """Run the frozen part once for every distinct input of `ids` not stored yet (batches of similar length)."""
        todo = list({tuple(x): list(x) for x in ids if tuple(x) not in self.stored}.values())
        if not todo:
            return
        captured = {}

        def grab(module, args, kwargs, output):
            captured["hidden"] = output[0] if isinstance(output, tuple) else output
            raise _Stop

        was_training = self.model.training
        self.model.eval()
        handle = self.blocks[self.frozen - 1].register_forward_hook(grab, with_kwargs=True)
        try:
            for batch in sorted_batches([len(x) for x in todo], batch_size):
                input_ids, mask = pad_batch([todo[i] for i in batch], pad_id)
                try:
                    self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                except _Stop:
                    pass
                hidden = captured.pop("hidden").float().cpu()
                for row, i in enumerate(batch):
                    self.stored[tuple(todo[i])] = hidden[row, :len(todo[i])].clone()
        finally:
            handle.remove()
            self.model.train(was_training)

    @contextlib.contextmanager
    def active(self):
        """While inside: the frozen blocks are pass-throughs and the first trained block gets the stored outputs;
        the frozen parts stay in eval mode. The model is restored on exit (its state dict keys meanwhile carry the
        wrappers' `inner.`: save or copy weights outside, or both inside)."""
        state = {"batch": None}
        frozen_blocks = [self.blocks[i] for i in range(self.frozen)]

        def take_rows(module, args, kwargs):
            input_ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
            state["batch"] = self._batch(input_ids, mask)

        def feed(module, args, kwargs):
            batch = state["batch"]
            if batch is None:
                return None
            if args:
                hidden = args[0]
                return (batch.to(device=hidden.device, dtype=hidden.dtype), *args[1:]), kwargs
            hidden = kwargs["hidden_states"]
            return args, {**kwargs, "hidden_states": batch.to(device=hidden.device, dtype=hidden.dtype)}

        handles = [self.model.register_forward_pre_hook(take_rows, with_kwargs=True),
                   self.blocks[self.frozen].register_forward_pre_hook(feed, with_kwargs=True)]
        for i, block in enumerate(frozen_blocks):
            self.blocks[i] = _PassThrough(block, state)
        try:
            with frozen_in_eval(self.model, self.frozen, frozen_blocks):
                yield self
        finally:
            for i, block in enumerate(frozen_blocks):
                self.blocks[i] = block
            for handle in handles:
                handle.remove()

    def _batch(self, input_ids, mask) -> torch.Tensor | None:
        """The stored outputs of a batch's rows, padded to its length; None when a row has none (or no ids)."""
        if input_ids is None:
            return None
        ids = input_ids.cpu()
        lengths = mask.sum(dim=1).tolist() if mask is not None else [ids.shape[1]] * ids.shape[0]
        rows = []
        for row, n in zip(ids, lengths):
            stored = self.stored.get(tuple(row[:int(n)].tolist()))
            if stored is None:
                return None
            rows.append(stored)
        out = torch.zeros(len(rows), ids.shape[1], rows[0].shape[-1])
        for r, stored in enumerate(rows):
            out[r, :stored.shape[0]] = stored
        return out

    @torch.inference_mode()
    def check(self, ids: list[list[int]], pad_id: int, device: str = "cpu", tolerance: float = 1e-3) -> str | None:
        """None when the model's logits on `ids` (a few stored inputs) are the same with and without the stored
        outputs standing in (largest difference <= `tolerance` x the largest logit, at least 1); else why not."""
        input_ids, mask = pad_batch(ids, pad_id)
        kwargs = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
        was_training = self.model.training
        self.model.eval()
        try:
            plain = self.model(**kwargs).logits.float()
            with self.active():
                fed = self.model(**kwargs).logits.float()
        except Exception as exc:  # an architecture whose blocks do not take hidden states first
            return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        finally:
            self.model.train(was_training)
        gap = float((plain - fed).abs().max())
        limit = tolerance * max(1.0, float(plain.abs().max()))
        return None if gap <= limit else f"logits differ by {gap:.2g} (allowed {limit:.2g})"
