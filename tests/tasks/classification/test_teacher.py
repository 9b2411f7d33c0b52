"""The fine-tuned teacher cache: reused when whole, rebuilt when its weights are damaged."""

from pathlib import Path

from distill_core.core.config import TeacherConfig
from distill_core.models import loading as models
from distill_core.tasks.causal_lm import teacher as lm_teacher
from distill_core.tasks.classification.data import load_splits
from distill_core.tasks.classification.teacher import prepare_teacher
from tests.support.runs import tiny_run_config


def _damage(weights: Path) -> None:
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # as a killed copy or a full disk leaves it


def test_a_fine_tuned_teacher_with_damaged_weights_is_rebuilt_then_reused(tiny_teacher_dir):
    config = tiny_run_config(tiny_teacher_dir, teacher=TeacherConfig(model=str(tiny_teacher_dir), finetune_epochs=0.1))
    splits = load_splits(config.data, config.seed)
    first = prepare_teacher(config, splits)
    weights = Path(first.model_ref) / "model.safetensors"
    assert not first.cached and models.cached_model_intact(weights.parent)

    _damage(weights)
    assert not models.cached_model_intact(weights.parent)
    rebuilt = prepare_teacher(config, splits)
    assert not rebuilt.cached and rebuilt.model_ref == first.model_ref
    assert models.cached_model_intact(weights.parent)
    models.load_classifier(rebuilt.model_ref, splits.label_names)  # loads again

    assert prepare_teacher(config, splits).cached


def test_safetensors_check_catches_truncated_overwritten_and_padded_files(tiny_teacher_dir, tmp_path):
    good = tiny_teacher_dir / "model.safetensors"
    assert models.safetensors_intact(good)
    data = good.read_bytes()
    for name, content in {"truncated": data[:-1], "padded": data + b"\0", "garbage": b"\xff" * 64, "empty": b"",
                          "header lies": (10**9).to_bytes(8, "little") + data[8:]}.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        assert not models.safetensors_intact(path), name


def test_a_damaged_converted_preset_language_model_is_converted_again(tmp_path, monkeypatch, tiny_teacher_dir):
    folder = tmp_path / "smollm2-fp32"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((tiny_teacher_dir / name).read_bytes())
    (folder / "source.json").write_text("{}")
    conversions = []
    monkeypatch.setattr(lm_teacher, "converted_folder", lambda key: folder)
    monkeypatch.setattr(lm_teacher, "gguf_path", lambda key: tmp_path / "model.gguf")
    monkeypatch.setattr(lm_teacher, "convert_gguf", lambda gguf, out, on_message=None: conversions.append(out))
    key = next(iter(lm_teacher.preset_model_keys()))

    assert lm_teacher.resolve(key) == str(folder) and conversions == [], "a whole copy is used as it is"
    _damage(folder / "model.safetensors")
    lm_teacher.resolve(key)
    assert conversions == [folder]


def test_the_fine_tuned_teacher_is_keyed_by_everything_its_fine_tune_reads(tiny_teacher_dir):
    from distill_core.core.config import BudgetConfig
    from distill_core.tasks.classification.teacher import teacher_fingerprint

    config = tiny_run_config(tiny_teacher_dir, teacher=TeacherConfig(model=str(tiny_teacher_dir), finetune_epochs=1.0))
    splits = load_splits(config.data, config.data.seed)
    base = teacher_fingerprint(config, splits)
    assert teacher_fingerprint(config.replace(seed=9, seeds=3), splits) == base  # training seeds share the teacher
    # The validation interval picks the fine-tune's best checkpoint: another interval is another teacher.
    other = config.replace(budget=BudgetConfig(unit="steps", value=4, eval_every=3))
    assert teacher_fingerprint(other, splits) != base
