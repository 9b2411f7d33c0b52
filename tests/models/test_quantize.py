"""int8 variants: really int8, really smaller, close to fp32, and the method used is on record."""

import struct

import pytest
import torch

from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models
from distill_core.models import quantize, students
from tests.support.runs import LABELS, make_tiny_classifier


@pytest.fixture(scope="module")
def wide_dir(tmp_path_factory):
    """A tiny BERT whose Linear layers, not its embeddings, hold most of the bytes."""
    return make_tiny_classifier(tmp_path_factory.mktemp("wide"), layers=2, hidden=128)


def _load(folder):
    return models.load_classifier(str(folder), LABELS)


def _linear_weight_bytes(model) -> int:
    return sum(m.weight.numel() * 4 for m in model.modules() if isinstance(m, torch.nn.Linear))


def _methods():
    available = ["torch-dynamic-int8"]
    try:
        quantize.import_torchao()
        available += ["torchao-int8-dynamic", "torchao-int8-weight-only"]
    except ImportError:
        pass
    return available


@pytest.mark.parametrize("method", _methods())
def test_int8_variant_holds_int8_weights_and_fewer_bytes(wide_dir, method):
    model = _load(wide_dir)
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    fp32_bytes, linear_bytes = students.weight_bytes(model), _linear_weight_bytes(model)
    quantized, record = quantize.quantize_int8(model, method)
    assert record.method == method and record.requested == method
    assert record.quantized_layers == linears
    assert record.int8_elements >= linear_bytes // 4  # every Linear weight is stored as one byte per number
    assert quantize.int8_elements(quantized) == record.int8_elements
    assert record.fp32_weight_bytes == fp32_bytes
    assert record.weight_bytes == students.weight_bytes(quantized)
    # int8 keeps a quarter of each Linear weight's bytes, plus one scale per output row
    assert fp32_bytes - record.weight_bytes >= 0.7 * linear_bytes


@pytest.mark.parametrize("method", _methods())
def test_int8_variant_predicts_like_the_fp32_model(wide_dir, method):
    model = _load(wide_dir)
    ids = torch.randint(1000, 20000, (8, 24))
    with torch.inference_mode():
        reference = model(input_ids=ids).logits
        quantized, _ = quantize.quantize_int8(model, method)
        logits = quantized(input_ids=ids).logits
    assert torch.allclose(logits, reference, atol=0.05)


def test_fp32_weight_bytes_equal_the_safetensors_payload(wide_dir):
    from safetensors.torch import save

    model = _load(wide_dir)
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    header = struct.unpack("<Q", blob[:8])[0]
    assert students.weight_bytes(model) == len(blob) - 8 - header


def test_auto_falls_back_to_torch_dynamic_and_says_why(wide_dir, monkeypatch):
    def missing():
        raise ImportError("No module named 'torchao'")

    monkeypatch.setitem(quantize.DEFAULT_METHOD, "cpu", "torchao-int8-dynamic")
    monkeypatch.setattr(quantize, "import_torchao", missing)
    _, record = quantize.quantize_int8(_load(wide_dir), "auto")
    assert record.method == "torch-dynamic-int8" and record.requested == "auto"
    assert "torchao unavailable" in record.note and record.int8_elements > 0


def test_unknown_method_is_refused_with_the_allowed_ones(wide_dir):
    with pytest.raises(DistillLabError, match="allowed: auto, torchao-int8-dynamic"):
        quantize.quantize_int8(_load(wide_dir), "int4")


def test_record_round_trips():
    record = quantize.QuantizationRecord("torch-dynamic-int8", "torch", "2.13", 3, 100, 400, 130, 0.01, "auto")
    assert quantize.QuantizationRecord.from_dict(record.to_dict()) == record


# Causal LMs whose lm_head is tied to the input embeddings: the head stays fp32 and shared (an int8 copy next to the
# fp32 embedding would make the int8 model larger than the fp32 one); GPT-2's Conv1D blocks are quantized too.


def _tied_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=500, n_embd=64, n_layer=2, n_head=4, n_positions=32,
                                      tie_word_embeddings=True)).eval()


def _tied_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                        tie_word_embeddings=True)).eval()


@pytest.mark.parametrize("method", _methods())
@pytest.mark.parametrize("build, blocks", [(_tied_gpt2, 8), (_tied_llama, 14)])
def test_tied_lm_head_stays_fp32_and_shared_so_int8_is_smaller(build, blocks, method):
    model = build()
    assert model.lm_head.weight is model.get_input_embeddings().weight
    ids = torch.randint(0, 500, (4, 16), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = model(input_ids=ids).logits
        fp32_bytes = students.weight_bytes(model)
        quantized, record = quantize.quantize_int8(model, method)
        logits = quantized(input_ids=ids).logits
    assert record.weight_bytes < fp32_bytes == record.fp32_weight_bytes
    assert quantized.lm_head.weight is quantized.get_input_embeddings().weight  # still one fp32 tensor
    assert quantized.lm_head.weight.dtype == torch.float32
    assert record.quantized_layers == blocks  # every projection of the blocks, not the head
    assert "lm_head tied to the input embeddings: kept fp32 and shared" in record.note
    agreement = (logits.argmax(-1) == reference.argmax(-1)).float().mean().item()
    assert agreement >= 0.9


def test_gpt2_conv1d_becomes_the_same_linear():
    model = _tied_gpt2()
    ids = torch.randint(0, 500, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        reference = model(input_ids=ids).logits
        assert quantize.conv1d_to_linear(model) == 8
        assert torch.allclose(model(input_ids=ids).logits, reference, atol=1e-5)
    assert isinstance(model.transformer.h[0].attn.c_attn, torch.nn.Linear)
    _, record = quantize.quantize_int8(_tied_gpt2(), "torch-dynamic-int8")
    assert "8 transformers Conv1D layers converted" in record.note
