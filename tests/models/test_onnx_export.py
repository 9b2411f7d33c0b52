"""ONNX export of a classifier: files a plain onnxruntime.InferenceSession loads, answers that match PyTorch, an int8
file whose record counts what it holds, and re-export only when the weights change."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distill_core.core import home
from distill_core.core.config import DataConfig
from distill_core.models import loading as models
from distill_core.models import onnx_export
from distill_core.tasks.classification.data import load_splits
from tests.support.runs import make_tiny_classifier

# The tiny BERT of make_tiny_classifier: 4 layers x 32 wide, feed-forward 64, 2 labels, MiniLM's 30,522 tokens.
VOCAB, WIDTH, FFN, LAYERS, POSITIONS, LABELS = 30522, 32, 64, 4, 128, 2


@pytest.fixture
def exported():
    folder = make_tiny_classifier(home.data_home() / "tiny")
    return str(folder), onnx_export.export_classifier(str(folder))


def _batch(n: int = 64, seq: int = 24, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`n` inputs of random lengths 3..seq, padded with id 0 (mask 0)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, VOCAB, (n, seq), dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    for row, length in enumerate(rng.integers(3, seq + 1, n)):
        mask[row, :length] = 1
    return ids * mask, mask


def test_the_exported_file_loads_in_plain_onnxruntime_and_agrees_with_pytorch(exported):
    import onnxruntime

    folder, record = exported
    path = onnx_export.onnx_dir(folder) / onnx_export.FP32_FILE
    assert path.parent == home.data_home() / "tiny" / "onnx"  # next to the folder it was made from
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # no helper of ours
    texts = load_splits(DataConfig(source="reviews"), 0).test.texts[:200]  # the built-in data's test split
    encoded = models.load_tokenizer(folder)(texts, padding=True, truncation=True, max_length=64, return_tensors="np")
    ids, mask = encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)
    onnx_logits = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    model = models.load_classifier(folder).eval()
    with torch.inference_mode():
        torch_logits = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    assert onnx_logits.shape == (200, LABELS)
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4
    agreement = float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean())
    assert agreement >= 0.99
    assert record.labels == ["great", "other"] and record.exporter == "torch.onnx (TorchScript)"
    assert record.max_abs_diff <= onnx_export.EXPORT_TOLERANCE


def test_the_int8_record_counts_the_layers_and_weights_the_file_holds(exported):
    folder, record = exported
    folder_onnx = onnx_export.onnx_dir(folder)
    # Every Linear runs as MatMulInteger: 6 per layer (q, k, v, attention output, two feed-forward), pooler, classifier.
    assert record.int8_layers == LAYERS * 6 + 2
    # int8 numbers: the three embedding tables (Gather is quantized too), every Linear weight, one zero point each.
    embeddings = VOCAB * WIDTH + 2 * WIDTH + POSITIONS * WIDTH
    linears = LAYERS * (4 * WIDTH * WIDTH + 2 * WIDTH * FFN) + WIDTH * WIDTH + WIDTH * LABELS
    assert record.int8_elements == embeddings + linears + 3 + record.int8_layers
    assert record.fp32_bytes == (folder_onnx / onnx_export.FP32_FILE).stat().st_size
    assert record.int8_bytes == (folder_onnx / onnx_export.INT8_FILE).stat().st_size
    assert record.int8_bytes < 0.35 * record.fp32_bytes  # about a byte per weight instead of four
    assert json.loads((folder_onnx / onnx_export.RECORD_FILE).read_text())["int8_elements"] == record.int8_elements


def test_the_int8_file_answers_close_to_fp32(exported):
    folder, _ = exported
    ids, mask = _batch(n=32)
    fp32 = onnx_export.ort_session(onnx_export.onnx_dir(folder) / onnx_export.FP32_FILE, threads=1)
    int8 = onnx_export.ort_session(onnx_export.onnx_dir(folder) / onnx_export.INT8_FILE, threads=1)
    a = fp32.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    b = int8.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    assert np.abs(a - b).max() < 0.1 * np.abs(a).max() + 1e-3  # rounding noise, not a different model


def test_files_are_reused_until_the_weights_change(exported):
    folder, record = exported
    fp32 = onnx_export.onnx_dir(folder) / onnx_export.FP32_FILE
    made = fp32.stat().st_mtime_ns
    assert onnx_export.export_classifier(folder) == record and fp32.stat().st_mtime_ns == made
    make_tiny_classifier(folder, seed=5)  # new weights in the same folder
    assert onnx_export.read_export(folder) is None
    again = onnx_export.export_classifier(folder)
    assert again.source_stamp != record.source_stamp and again.source_stamp == onnx_export.source_stamp(folder)


def test_a_model_outside_the_data_folder_keeps_its_files_in_the_cache(tmp_path):
    folder = str(make_tiny_classifier(tmp_path / "elsewhere"))
    where = onnx_export.onnx_dir(folder)
    assert where.parent == home.cache_dir(onnx_export.ONNX_DIR)
    assert not (tmp_path / "elsewhere" / "onnx").exists()


def test_the_playground_wrapper_answers_like_the_session(exported):
    folder, _ = exported
    ids, mask = _batch(n=4)
    wrapper = onnx_export.OnnxClassifier(folder, int8=False, threads=1)
    session = onnx_export.ort_session(onnx_export.onnx_dir(folder) / onnx_export.FP32_FILE, threads=1)
    expected = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    got = wrapper(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
    assert np.allclose(got.numpy(), expected)
    assert wrapper.weight_bytes == (onnx_export.onnx_dir(folder) / onnx_export.FP32_FILE).stat().st_size


def test_a_model_without_files_is_refused_with_the_command_that_makes_them(tmp_path):
    folder = str(make_tiny_classifier(home.data_home() / "bare"))
    with pytest.raises(Exception, match="--runtimes onnxruntime"):
        onnx_export.OnnxClassifier(folder, int8=True)
