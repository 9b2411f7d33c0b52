"""Weight selection: a narrower (and/or shallower) student of the teacher's family starts from a subset of the
teacher's weights: the same residual-stream dimensions everywhere, whole attention heads, feed-forward neurons, each
chosen by an importance computed from the teacher's weights (`_Selection`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models


# The space each weight dimension of a projection lives in, by the end of the module's name: (output, input).
# hidden: the residual stream; heads: query heads x head_dim; kv: key/value heads x head_dim; qkv: GPT-2's fused
# query|key|value; ffn: feed-forward neurons. Covers BERT/RoBERTa, DistilBERT, Llama-like and GPT-2 blocks. A
# parameter not listed (embeddings, norms, pooler, classifier) has its dimensions of the teacher's width in "hidden".
PROJECTION_SPACES = {
    **dict.fromkeys(("query", "q_proj", "q_lin"), ("heads", "hidden")),
    **dict.fromkeys(("key", "value", "k_proj", "v_proj", "k_lin", "v_lin"), ("kv", "hidden")),
    **dict.fromkeys(("attention.output.dense", "o_proj", "out_lin", "attn.c_proj"), ("hidden", "heads")),
    **dict.fromkeys(("intermediate.dense", "gate_proj", "up_proj", "lin1", "mlp.c_fc"), ("ffn", "hidden")),
    **dict.fromkeys(("output.dense", "down_proj", "lin2", "mlp.c_proj"), ("hidden", "ffn")),
    "attn.c_attn": ("qkv", "hidden"),
}


@dataclass
class Widths:
    """The widths that weight selection maps: residual, heads, KV heads, head size, feed-forward neurons."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int

    @classmethod
    def of(cls, config) -> "Widths":
        hidden, heads = int(config.hidden_size), int(getattr(config, "num_attention_heads", None) or 1)
        ffn = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
        return cls(hidden, heads, int(getattr(config, "num_key_value_heads", None) or heads),
                   int(getattr(config, "head_dim", None) or hidden // heads), int(ffn))


def _unmappable(why: str) -> DistillLabError:
    return DistillLabError(f"cannot select the student's weights from the teacher: {why}; choose init_from "
                           "'random' for fresh weights", "student.init_from")


def check_selectable(teacher_config, student_config) -> None:
    """Raise DistillLabError (student.init_from) when `student_config` is not a narrowing of `teacher_config` that
    select_weights can fill: it needs no more layers, width, heads or feed-forward neurons, and the same head_dim."""
    t, s = Widths.of(teacher_config), Widths.of(student_config)
    n_t = getattr(teacher_config, models.num_layers_attr(teacher_config))
    n_s = getattr(student_config, models.num_layers_attr(student_config))
    if n_s > n_t:
        raise _unmappable(f"{n_s} layers but the teacher has {n_t}")
    for what, mine, theirs in (("width", s.hidden, t.hidden), ("heads", s.heads, t.heads),
                               ("feed-forward width", s.ffn, t.ffn)):
        if mine > theirs:
            raise _unmappable(f"{what} {mine} is above the teacher's {theirs} (at most {theirs})")
    if s.head_dim != t.head_dim:
        raise _unmappable(f"heads of {s.head_dim} dims cannot be taken from the teacher's heads of {t.head_dim} "
                          f"(use {max(1, s.hidden // t.head_dim)} heads, or a width divisible by {t.head_dim})")
    if s.heads != s.kv_heads and (s.kv_heads > t.kv_heads or s.heads // s.kv_heads > t.heads // t.kv_heads):
        raise _unmappable(f"{s.kv_heads} key/value heads of {s.heads // s.kv_heads} query heads each do not fit in "
                          f"the teacher's {t.kv_heads} of {t.heads // t.kv_heads}")


def _top(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the k largest scores, in ascending index order (all of them: the identity)."""
    return sorted(torch.topk(scores, k).indices.tolist())


def _blocks_prefix(model) -> str:
    """The name of the model's list of transformer blocks ("bert.encoder.layer", "model.layers", ...)."""
    try:
        blocks = models.encoder_layers(model)
    except DistillLabError:
        raise _unmappable(f"cannot find the transformer layers of {type(model).__name__}") from None
    return next(name for name, module in model.named_modules() if module is blocks)


def _projection_spaces(module, module_name: str) -> tuple[str, str] | None:
    """(output space, input space) of a Linear or Conv1D listed in PROJECTION_SPACES (longest name match)."""
    if type(module).__name__ not in ("Linear", "Conv1D"):
        return None
    key = next((k for k in sorted(PROJECTION_SPACES, key=len, reverse=True)
                if module_name == k or module_name.endswith("." + k)), None)
    return PROJECTION_SPACES[key] if key else None


def _spaces(module, leaf: str, value: torch.Tensor, module_name: str, teacher_width: int) -> list[str | None]:
    """The space of each dimension of parameter `leaf` of `module` (None: none known)."""
    kind = type(module).__name__
    projection = _projection_spaces(module, module_name)
    if projection:
        out_space, in_space = projection
        if leaf == "bias":
            return [out_space]
        return [out_space, in_space] if kind == "Linear" else [in_space, out_space]  # Conv1D: weight (in, out)
    return ["hidden" if size == teacher_width else None for size in value.shape]


class _Selection:
    """Which teacher indices each student dimension takes, per space (and per teacher layer for heads and neurons).

    Importance, computed from the teacher's weights:
    - residual dim j: std over the vocabulary of the input embedding's column j, times |gamma_j| of the embeddings'
      LayerNorm where the model has one (the size of what dim j carries into the first block);
    - head h of a layer: ||W_O[:, h * head_dim : (h + 1) * head_dim]||_F, its block of the attention output;
    - neuron n of a layer: the product over the layer's feed-forward weights of the norm of neuron n's row (input
      projections, gate) or column (output projection): ||W_in[n, :]|| * ||W_out[:, n]||.
    The k most important are kept, in their original order. With grouped-query attention the KV groups with the
    largest summed scores of their best query heads are kept, then the best query heads within each group.
    """

    def __init__(self, teacher, student, prefix: str):
        self.t, self.s = Widths.of(teacher.config), Widths.of(student.config)
        self.teacher, self.prefix = teacher, prefix
        self.modules = dict(teacher.named_modules())
        self.cache: dict = {}

    def index(self, space: str | None, layer: int | None, size: int) -> torch.Tensor | None:
        """The teacher indices of a student dimension of `size` in `space` (None: not a narrowing this knows)."""
        s, dim = self.s, self.s.head_dim
        expected = {"hidden": s.hidden, "ffn": s.ffn, "heads": s.heads * dim, "kv": s.kv_heads * dim,
                    "qkv": 3 * s.heads * dim}
        if expected.get(space) != size or (space != "hidden" and layer is None):
            return None
        key = (space, None if space == "hidden" else layer)
        if key not in self.cache:
            self.cache[key] = torch.tensor(self._index(space, layer))
        return self.cache[key]

    def _index(self, space: str, layer: int) -> list[int]:
        if space == "hidden":
            return _top(self._residual_scores(), self.s.hidden)
        if space == "ffn":
            return _top(self._neuron_scores(layer), self.s.ffn)
        q, kv = self._heads(layer)
        dim = self.t.head_dim

        def rows(heads):
            return [h * dim + d for h in heads for d in range(dim)]

        if space == "heads":
            return rows(q)
        if space == "kv":
            return rows(kv)
        width = self.t.heads * dim  # qkv: the query, key and value parts, each the whole width
        return [part * width + i for part in range(3) for i in rows(q)]

    def _residual_scores(self) -> torch.Tensor:
        embedding = self.teacher.get_input_embeddings().weight.detach().float()
        scores = embedding.std(dim=0)
        norms = [p for name, p in self.teacher.named_parameters()
                 if re.search(r"emb\w*\.(layernorm|layer_norm|ln|norm)\.weight$", name, re.IGNORECASE)
                 and p.shape == scores.shape]
        return scores * norms[0].detach().float().abs() if norms else scores

    def _projections(self, layer: int):
        """(weight, the space of each of its dimensions, its input space) of every projection in teacher block
        `layer`."""
        start = f"{self.prefix}.{layer}."
        for name, module in self.modules.items():
            projection = _projection_spaces(module, name) if name.startswith(start) else None
            if projection:
                spaces = _spaces(module, "weight", module.weight, name, self.t.hidden)
                yield module.weight.detach().float(), spaces, projection[1]

    def _neuron_scores(self, layer: int) -> torch.Tensor:
        """Product over the block's feed-forward weights of each neuron's row or column norm."""
        scores = torch.ones(self.t.ffn, device=self.teacher.get_input_embeddings().weight.device)
        for weight, spaces, _ in self._projections(layer):
            if "ffn" in spaces:
                scores = scores * weight.movedim(spaces.index("ffn"), 0).reshape(self.t.ffn, -1).norm(dim=1)
        return scores

    def _head_scores(self, layer: int) -> torch.Tensor:
        """Each head's Frobenius norm in the attention output (heads on its input side)."""
        for weight, spaces, input_space in self._projections(layer):
            if input_space == "heads":
                return weight.movedim(spaces.index("heads"), 0).reshape(self.t.heads, -1).norm(dim=1)
        raise _unmappable(f"no attention output projection found in teacher layer {layer}")

    def _heads(self, layer: int) -> tuple[list[int], list[int]]:
        """(teacher query heads, teacher KV head of each student KV head) for the student's heads of `layer`."""
        scores = self._head_scores(layer)
        group = self.t.heads // self.t.kv_heads  # query heads per teacher KV head
        if self.s.kv_heads == self.s.heads:  # one KV head per query head: each takes its teacher group's
            q = _top(scores, self.s.heads)
            return q, [h // group for h in q]
        per = self.s.heads // self.s.kv_heads
        best = scores.view(self.t.kv_heads, group).topk(per, dim=1)
        groups = _top(best.values.sum(dim=1), self.s.kv_heads)
        q = [g * group + h for g in groups for h in sorted(best.indices[g].tolist())]
        return q, groups


def select_weights(student: torch.nn.Module, teacher: torch.nn.Module, layers: list[int],
                   label_order: list[int] | None = None) -> torch.nn.Module:
    """Fill `student` (in place) from `teacher`, a wider and/or deeper model of the same family: each parameter
    takes the teacher's parameter of the same name (student block i reads teacher block layers[i]), with a subset
    of indices (_Selection) along every dimension whose size differs: the same residual dims everywhere, whole
    attention heads (Q/K/V rows, attention-output columns), feed-forward neurons. `label_order`: the teacher's
    classifier row for each student label. Raises DistillLabError (student.init_from) where shapes cannot be mapped.
    """
    check_selectable(teacher.config, student.config)
    prefix = _blocks_prefix(student)
    if _blocks_prefix(teacher) != prefix or len(layers) != len(models.encoder_layers(student)):
        raise _unmappable("the student's blocks do not match the teacher's")
    selection = _Selection(teacher, student, prefix)
    t_params, s_modules = dict(teacher.named_parameters()), dict(student.named_modules())
    block = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    base = getattr(teacher, "base_model_prefix", "") + "."
    with torch.no_grad():
        for name, param in student.named_parameters():
            found = block.match(name)
            layer = layers[int(found.group(1))] if found else None
            t_name = block.sub(f"{prefix}.{layer}.", name) if found else name
            if t_name not in t_params:
                raise _unmappable(f"the teacher has no parameter {t_name}")
            value = t_params[t_name].detach()
            module_name, _, leaf = name.rpartition(".")
            spaces = _spaces(s_modules[module_name], leaf, value, module_name, selection.t.hidden)
            if label_order is not None and not found and not name.startswith(base) \
                    and value.shape[0] == len(label_order) == teacher.config.num_labels:
                value = value[label_order]  # the classifier: its rows in the student's label order
            for dim, space in enumerate(spaces):
                if value.shape[dim] != param.shape[dim]:
                    index = selection.index(space, layer, param.shape[dim])
                    if index is None:
                        raise _unmappable(f"dimension {dim} of {name} ({value.shape[dim]} in the teacher, "
                                          f"{param.shape[dim]} in the student) has no known meaning")
                    value = value.index_select(dim, index.to(value.device))
            if value.shape != param.shape:
                raise _unmappable(f"{name} has shape {tuple(param.shape)}, the teacher's selection "
                                  f"{tuple(value.shape)}")
            param.copy_(value)
    return student
