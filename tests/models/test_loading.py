"""Model references: preset keys, local folders, hub ids (from a local cache); safetensors only; remote code gated."""

import json
import shutil

import pytest
import torch

from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models

LABELS = ["great", "other"]


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache for this test, offline. huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE
    when it is imported, so the module constants are patched as well as the environment."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _put_in_hub_cache(cache, repo_id: str, model_dir, commit: str = "0123456789abcdef0123456789abcdef01234567"):
    """Lay out `model_dir` as the hub cache does: models--org--name/snapshots/<commit>/ and refs/main -> commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_local_folder_loads_a_classifier_in_eval_mode(tiny_teacher_dir):
    model = models.load_classifier(str(tiny_teacher_dir), LABELS)
    assert not model.training
    assert model.config.num_hidden_layers == 4 and model.config.num_labels == 2
    assert models.label_order(model, LABELS) == [0, 1]
    tokenizer = models.load_tokenizer(str(tiny_teacher_dir))
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id


def test_absolute_folder_resolves_to_itself_and_loads_through_auto_classes(tiny_teacher_dir):
    resolved = models.resolve(str(tiny_teacher_dir.resolve()))
    assert resolved == str(tiny_teacher_dir.resolve())
    assert type(models.load_classifier(resolved)).__name__ == "BertForSequenceClassification"


def test_same_labels_in_another_order_keep_the_trained_head(tiny_teacher_dir):
    model = models.load_classifier(str(tiny_teacher_dir), ["other", "great"])
    assert model.config.id2label == {0: "great", 1: "other"}
    assert models.label_order(model, ["other", "great"]) == [1, 0]


def test_trained_head_with_other_labels_is_refused(tiny_teacher_dir):
    with pytest.raises(DistillLabError, match="same label space") as info:
        models.load_classifier(str(tiny_teacher_dir), ["pos", "neg", "neutral"])
    assert info.value.field == "labels"


def test_folder_with_only_pickled_weights_is_refused(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / "config.json", folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded: would be a pickle")
    with pytest.raises(DistillLabError, match="pickle") as info:
        models.load_classifier(str(folder))
    assert info.value.field == "model"
    assert "safetensors" in str(info.value)


def test_folder_without_config_json_is_refused(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "no-config"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(DistillLabError, match="config.json"):
        models.load_classifier(str(folder))


def test_folder_without_weights_is_refused(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / "config.json", folder / "config.json")
    with pytest.raises(DistillLabError, match="no model weights"):
        models.resolve(str(folder))


@pytest.mark.parametrize("ref", ["./no-such-folder", "/no/such/folder"])
def test_missing_path_is_refused_as_not_a_folder(ref):
    with pytest.raises(DistillLabError, match="is not a folder"):
        models.resolve(ref)


def test_unknown_hub_id_offline_names_the_hub(hub_cache):
    with pytest.raises(DistillLabError) as info:
        models.load_classifier("no-such-org/no-such-model-xyz", LABELS)
    assert info.value.field == "model"
    assert "hub" in str(info.value) and "no-such-org/no-such-model-xyz" in str(info.value)


def test_hub_id_loads_from_the_local_hub_cache_offline(hub_cache, tiny_teacher_dir):
    _put_in_hub_cache(hub_cache, "tiny-org/tiny-bert", tiny_teacher_dir)
    assert models.resolve("tiny-org/tiny-bert") == "tiny-org/tiny-bert"  # a hub id, not a local path
    model = models.load_classifier("tiny-org/tiny-bert", LABELS)
    reference = models.load_classifier(str(tiny_teacher_dir), LABELS)
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    tokenizer = models.load_tokenizer("tiny-org/tiny-bert")
    assert tokenizer.vocab_size == model.config.vocab_size


def test_hub_id_missing_from_the_cache_is_refused_even_when_another_is_cached(hub_cache, tiny_teacher_dir):
    _put_in_hub_cache(hub_cache, "tiny-org/tiny-bert", tiny_teacher_dir)
    with pytest.raises(DistillLabError, match="hub"):
        models.load_config("tiny-org/other-bert")


def test_preset_minilm_resolves_to_an_existing_model_folder():
    path = models.resolve("minilm")
    assert (models.Path(path) / "config.json").exists()
    assert "minilm" in models.preset_model_keys()


def test_preset_base_encoder_gets_a_fresh_head_sized_to_the_labels():
    model = models.load_classifier("minilm", ["a", "b", "c"])
    assert model.config.num_labels == 3 and model.classifier.out_features == 3
    assert model.config.num_hidden_layers == 6


def test_model_with_its_own_code_needs_trust_remote_code(tiny_teacher_dir, tmp_path, monkeypatch):
    import transformers.dynamic_module_utils

    # where transformers copies a model's code before importing it: inside the test's folder
    monkeypatch.setattr(transformers.dynamic_module_utils, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    folder = tmp_path / "custom"
    folder.mkdir()
    config = json.loads((tiny_teacher_dir / "config.json").read_text())
    config.update(model_type="distill-lab-custom", auto_map={
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForSequenceClassification": "modeling_custom.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny_teacher_dir / "model.safetensors", folder / "model.safetensors")
    marker = tmp_path / "the-models-code-ran"
    (folder / "configuration_custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                                    "raise RuntimeError('stop here')\n")
    with pytest.raises(DistillLabError) as info:
        models.load_classifier(str(folder))
    assert info.value.field == "trust_remote_code"
    assert "its own Python code" in info.value.message and "only if you trust its author" in info.value.message
    assert not marker.exists(), "refused before any of its code ran"

    with pytest.raises(DistillLabError, match="stop here"):  # ticked: its code runs (and here fails on purpose)
        models.load_classifier(str(folder), trust_remote_code=True)
    assert marker.exists()
