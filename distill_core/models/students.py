"""Students: keep some of the teacher's layers, a shrunk config (fresh weights, or weights selected from the teacher),
or another model.

Also what a model costs before training: parameters, weight bytes and FLOPs per input.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch

from distill_core.core.config import StudentConfig
from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models
from distill_core.models.weight_selection import Widths, check_selectable, select_weights


def evenly_spaced_layers(n_teacher: int, n_student: int) -> list[int]:
    """Indices of `n_student` of `n_teacher` layers, evenly spaced and ending at the top layer
    (DistilBERT keeps every other layer: 6 of 12 -> 1, 3, 5, 7, 9, 11)."""
    if not 1 <= n_student <= n_teacher:
        raise DistillLabError(f"{n_student} layers is not allowed; allowed: 1 to {n_teacher} (the teacher's depth)",
                              "student.num_layers")
    return [round((i + 1) * n_teacher / n_student) - 1 for i in range(n_student)]


def check_layer_indices(layers: list[int], n_teacher: int) -> None:
    if not layers:
        raise DistillLabError("the list is empty; keep at least one teacher layer", "student.layers")
    bad = [i for i in layers if not 0 <= i < n_teacher]
    if bad:
        raise DistillLabError(f"indices {bad} are out of range; the teacher has layers 0 to {n_teacher - 1}",
                              "student.layers")
    if len(set(layers)) != len(layers):
        raise DistillLabError(f"{layers} repeats a layer; keep each layer at most once", "student.layers")


def kept_layers(cfg: StudentConfig, n_teacher: int) -> list[int]:
    layers = list(cfg.layers) if cfg.layers is not None else evenly_spaced_layers(n_teacher, cfg.num_layers)
    check_layer_indices(layers, n_teacher)
    return sorted(layers)


def student_depth(cfg: StudentConfig) -> int:
    """A keep-layers or shrink student's depth: as many as `layers` names, else `num_layers`."""
    return len(cfg.layers) if cfg.layers else cfg.num_layers


def source_layers(cfg: StudentConfig, n_teacher: int) -> list[int]:
    """The teacher layer each student layer starts from (or is matched to): `layers` when named, else evenly spaced
    (a student deeper than the teacher: every teacher layer)."""
    return kept_layers(cfg, n_teacher) if cfg.layers else evenly_spaced_layers(n_teacher, min(cfg.num_layers,
                                                                                              n_teacher))


def keep_layers_in_config(config, layers: list[int]) -> None:
    """Make `config` (in place) describe only the blocks `layers`: depth, and per-layer types where it has them."""
    setattr(config, models.num_layers_attr(config), len(layers))
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in layers]


def keep_layers(source: torch.nn.Module, layers: list[int]) -> torch.nn.Module:
    """A copy of `source` with only the transformer blocks `layers`, weights copied exactly."""
    student = copy.deepcopy(source)
    blocks = models.encoder_layers(student)
    kept = torch.nn.ModuleList([blocks[i] for i in layers])
    _replace_blocks(student, blocks, kept)
    keep_layers_in_config(student.config, layers)
    for new_index, block in enumerate(kept):  # attention layers of some models carry their own index
        for module in block.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    return student


def _replace_blocks(model, old, new) -> None:
    for module in model.modules():
        for name, child in module.named_children():
            if child is old:
                setattr(module, name, new)
                return
    raise DistillLabError("could not replace the teacher's layers", "student.kind")


def shrink_config(teacher_config, cfg: StudentConfig):
    """The teacher's config with fewer layers and/or a narrower width; the same for encoders and causal LMs.

    Unless `cfg` names them: heads = width / the teacher's head_dim (whole teacher heads, so their weights can be
    selected), else the teacher's head count; the feed-forward width keeps the teacher's ratio to the width; KV heads
    stay the teacher's when the heads divide into them, else one per head."""
    config = copy.deepcopy(teacher_config)
    depth = student_depth(cfg)
    setattr(config, models.num_layers_attr(config), depth)
    if getattr(config, "layer_types", None):
        config.layer_types = ([config.layer_types[i] for i in sorted(cfg.layers)] if cfg.layers
                              else list(config.layer_types)[:depth])
    if cfg.hidden_size or cfg.num_heads:
        teacher = Widths.of(teacher_config)
        width = cfg.hidden_size or config.hidden_size
        heads = cfg.num_heads or (width // teacher.head_dim if width % teacher.head_dim == 0 else teacher.heads)
        if width % heads:
            raise DistillLabError(f"hidden size {width} does not divide into {heads} heads", "student.hidden_size")
        config.hidden_size, config.num_attention_heads = width, heads
        if hasattr(config, "intermediate_size"):
            config.intermediate_size = cfg.intermediate_size or max(1, round(teacher.ffn * width / teacher.hidden))
        kv = getattr(config, "num_key_value_heads", None)
        if kv and heads % kv:
            config.num_key_value_heads = heads
        if getattr(config, "head_dim", None):
            config.head_dim = width // heads
    elif cfg.intermediate_size and hasattr(config, "intermediate_size"):
        config.intermediate_size = cfg.intermediate_size
    return config


def shrink(teacher_config, cfg: StudentConfig, labels: list[str]) -> torch.nn.Module:
    """A fresh, randomly initialised classifier of the teacher's family: fewer layers and/or narrower."""
    from transformers import AutoModelForSequenceClassification

    config = shrink_config(teacher_config, cfg)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    return AutoModelForSequenceClassification.from_config(config)


def select_from_teacher(student: torch.nn.Module, teacher: torch.nn.Module, cfg: StudentConfig,
                        label_order: list[int] | None = None) -> torch.nn.Module:
    """Fill the shrunk `student` (in place) with weights selected from `teacher` (weight_selection.select_weights):
    student layer i from teacher layer source_layers(...)[i]."""
    check_selectable(teacher.config, student.config)  # before the layers: its message names init_from
    n_teacher = getattr(teacher.config, models.num_layers_attr(teacher.config))
    return select_weights(student, teacher, source_layers(cfg, n_teacher), label_order)


def shrink_from(teacher_model: torch.nn.Module, cfg: StudentConfig, labels: list[str]) -> torch.nn.Module:
    """A shrunk classifier (`shrink`) that starts from weights selected from `teacher_model`; its logits are
    `labels` in this order (the teacher's classifier rows are reordered to match)."""
    return select_from_teacher(shrink(teacher_model.config, cfg, labels), teacher_model, cfg,
                               models.label_order(teacher_model, labels))


def shrink_description(cfg: StudentConfig, width: int) -> str:
    """How a shrink student starts, in words (pre-flight panel, preflight.json)."""
    start = "fresh random weights" if cfg.init_from == "random" else f"weights selected from the {cfg.init_from}"
    if cfg.layers and cfg.init_from != "random":
        start += f"'s layers {sorted(cfg.layers)}"
    ffn = f", feed-forward {cfg.intermediate_size}" if cfg.intermediate_size else ""
    return f"{student_depth(cfg)} layers, width {width}{ffn}, {start}"


@dataclass
class ModelCost:
    """What a model costs: parameters, bytes of its weights, forward FLOPs for one input of `seq_len` tokens."""

    parameters: int
    weight_bytes: int
    flops_per_input: int
    seq_len: int
    layers: int
    hidden_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def plain_tensors(value):
    """The plain tensors that hold `value`'s data: a tensor subclass (torchao's int8 weights) is flattened into its
    inner tensors (int8 data, scales); torch's quantized tensors count as int8 data plus their scales and zero points;
    tuples (torch's packed dynamic-int8 params) are walked; anything else holds none."""
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from plain_tensors(item)
    elif isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter \
                and hasattr(value, "__tensor_flatten__"):
            names, _ = value.__tensor_flatten__()
            for name in names:
                yield from plain_tensors(getattr(value, name))
        elif value.is_quantized:
            yield value.int_repr()  # what a file would store: one byte per int8 weight
            if value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                yield value.q_per_channel_scales()
                yield value.q_per_channel_zero_points()
        else:
            yield value


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the distinct tensors in the state dict (tied weights counted once); for quantized models, the bytes
    of their int8 data plus scales: the payload a safetensors file of these tensors would hold (header excluded)."""
    # Held in a list: int_repr() makes new tensors, whose addresses could be reused if they were freed early.
    tensors = [t for value in model.state_dict().values() for t in plain_tensors(value)]
    seen, total = set(), 0
    for tensor in tensors:
        key = (tensor.data_ptr(), tensor.numel(), tensor.dtype)
        if key in seen:
            continue
        seen.add(key)
        total += tensor.numel() * tensor.element_size()
    return total


def forward_flops(module: torch.nn.Module, *args, **kwargs) -> int:
    """FLOPs of one forward call `module(*args, **kwargs)` (torch.utils.flop_counter: matmuls and convolutions,
    a multiply-add counts 2; an nn.Linear on (rows, in) costs 2 * rows * in * out)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*args, **kwargs)
    return int(counter.get_total_flops())


def count_flops(model: torch.nn.Module, seq_len: int) -> int:
    """Forward FLOPs for one input of `seq_len` tokens (torch.utils.flop_counter; a multiply-add counts 2)."""
    device = next(model.parameters()).device
    vocab = getattr(model.config, "vocab_size", 100)
    ids = torch.randint(low=min(5, vocab - 1), high=vocab, size=(1, seq_len), device=device)
    return forward_flops(model, input_ids=ids, attention_mask=torch.ones_like(ids))


def model_cost(model: torch.nn.Module, seq_len: int) -> ModelCost:
    config = model.config
    return ModelCost(
        parameters=sum(p.numel() for p in model.parameters()),
        weight_bytes=weight_bytes(model),
        flops_per_input=count_flops(model, seq_len),
        seq_len=seq_len,
        layers=int(getattr(config, models.num_layers_attr(config))),
        hidden_size=int(getattr(config, "hidden_size", 0) or 0),
    )
