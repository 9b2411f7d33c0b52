"""Which teacher blocks matter on the run's own data: each transformer block's *block influence* (ShortGPT, Men et
al. 2024), BI_i = 1 - mean over real tokens of cos(x_i, y_i), where x_i is the hidden state entering block i and y_i
the one leaving it. A block that barely turns its input (BI near 0) is the cheapest to drop; the blocks with the
highest influence are the suggested ones for a student that keeps `keep` of them.

Inputs and outputs are caught with forward hooks on the blocks themselves, so a final layer norm (GPT-2, Llama)
does not count as part of the last block. Works for any model whose blocks loading.encoder_layers finds (BERT-like
encoders, GPT-2's `h`, Llama-like `layers`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from distill_core.core.errors import DistillLabError
from distill_core.models.loading import encoder_layers


@dataclass
class LayerScan:
    influence: list[float]  # per block, 1 - mean cosine (0: the block leaves its input's direction unchanged)
    suggested: list[int]  # the `keep` blocks with the highest influence, in depth order
    configured: list[int]  # the blocks the config's student keeps now (student.layers, else evenly spaced)
    tokens: int  # real (non-padding) tokens averaged over
    texts: int  # inputs scanned
    model: str = ""  # what was scanned (a reference, and whether base or fine-tuned weights)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _hidden(value):
    return value[0] if isinstance(value, (tuple, list)) else value


def block_influence(model, batches: list, device: str = "cpu") -> tuple[list[float], int]:
    """(block influence per block, real tokens counted) over `batches` of (input_ids, attention_mask) tensors."""
    import torch

    blocks = list(encoder_layers(model))
    sums = torch.zeros(len(blocks), dtype=torch.float64)
    caught: dict[int, tuple] = {}  # block -> (hidden state entering, leaving)

    def hook_for(i):
        def hook(module, args, kwargs, output):
            entering = args[0] if args else kwargs.get("hidden_states")
            caught[i] = (_hidden(entering), _hidden(output))
        return hook

    handles = [block.register_forward_hook(hook_for(i), with_kwargs=True) for i, block in enumerate(blocks)]
    tokens = 0
    try:
        model.to(device).eval()
        with torch.inference_mode():
            for input_ids, mask in batches:
                caught.clear()
                model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                real = mask.to(device).bool()
                if len(caught) != len(blocks):
                    raise DistillLabError(f"only {len(caught)} of {len(blocks)} blocks ran; this architecture's "
                                          "blocks cannot be scanned", "teacher.model")
                for i, (x, y) in caught.items():
                    cos = torch.nn.functional.cosine_similarity(x[real].double(), y[real].double(), dim=-1)
                    sums[i] += float((1.0 - cos).sum())
                tokens += int(real.sum())
    finally:
        for handle in handles:
            handle.remove()
    if tokens == 0:
        raise DistillLabError("no tokens to scan: the data gave no text", "data.source")
    return (sums / tokens).tolist(), tokens


def suggest_layers(influence: list[float], keep: int) -> list[int]:
    """The `keep` blocks with the highest influence (ties: the lower index), in depth order."""
    if not 1 <= keep <= len(influence):
        raise DistillLabError(f"{keep} is not between 1 and the teacher's {len(influence)} layers",
                              "student.num_layers")
    ranked = sorted(range(len(influence)), key=lambda i: (-influence[i], i))
    return sorted(ranked[:keep])
