"""The layer-importance scan: block influence on hand-built blocks with known answers, on real BERT-, GPT-2- and
Llama-like models (checked against their own hidden states), the tasks' scans, and `distill-lab scan`."""

import json

import pytest
import torch

from distill_core.core.errors import DistillLabError
from distill_core.models.layer_importance import block_influence, suggest_layers
from distill_core.views.layer_scan import scan_lines, scan_rows


class _Rotate(torch.nn.Module):
    """Turns every token's vector by 90 degrees in the plane of its first two dimensions (x, y) -> (-y, x)."""

    def forward(self, h):
        return torch.stack([-h[..., 1], h[..., 0]], dim=-1)


class _Negate(torch.nn.Module):
    def forward(self, h):
        return -h


class _Toy(torch.nn.Module):
    """Embeddings of width 2 and three blocks: identity (influence 0), 90-degree turn (1), negation (2)."""

    base_model_prefix = "backbone"

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 2)
        self.layers = torch.nn.ModuleList([torch.nn.Identity(), _Rotate(), _Negate()])

    def forward(self, input_ids, attention_mask=None):
        h = self.embed(input_ids)
        for block in self.layers:
            h = block(h)
        return h


def test_block_influence_of_known_blocks_and_the_suggestion():
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    influence, tokens = block_influence(_Toy(), [(ids, mask)])
    # cos(h, h) = 1 -> 0; cos(h, turned h) = 0 -> 1; cos(h, -h) = -1 -> 2. Five real tokens (padding left out).
    assert influence == pytest.approx([0.0, 1.0, 2.0], abs=1e-9) and tokens == 5
    assert suggest_layers(influence, 2) == [1, 2]
    assert suggest_layers([0.3, 0.1, 0.3, 0.2], 2) == [0, 2]  # ties go to the lower index
    with pytest.raises(DistillLabError) as info:
        suggest_layers(influence, 4)
    assert info.value.field == "student.num_layers"


def _manual_influence(model, ids, mask, n_blocks):
    """Block influence from the model's own hidden states (valid for blocks whose output is not final-normed)."""
    with torch.no_grad():
        hs = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    real = mask.bool()
    return [float((1 - torch.nn.functional.cosine_similarity(hs[i][real].double(), hs[i + 1][real].double(),
                                                              dim=-1)).mean()) for i in range(n_blocks)]


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=32, n_layer=3, n_head=4, n_positions=64)).eval()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                        num_attention_heads=4, num_key_value_heads=2)).eval()


def _bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3,
                                                    num_attention_heads=4, intermediate_size=64)).eval()


@pytest.mark.parametrize("build, checkable", [(_bert, 3), (_gpt2, 2), (_llama, 2)])
def test_block_influence_matches_the_models_own_hidden_states(build, checkable):
    # GPT-2 and Llama apply a final norm to their last hidden state: the hooks see the last block's own output, so
    # only the blocks before it can be checked against output_hidden_states.
    model = build()
    ids = torch.randint(1, 50, (2, 7))
    mask = torch.ones_like(ids)
    influence, tokens = block_influence(model, [(ids, mask)])
    assert len(influence) == 3 and tokens == 14
    assert influence[:checkable] == pytest.approx(_manual_influence(model, ids, mask, checkable), rel=1e-4)
    assert all(0 <= v <= 2 for v in influence)


def test_the_classification_scan_uses_the_runs_texts_and_the_configs_layers(tiny_config):
    from distill_core.tasks import get_task

    scan = get_task("classification").scan_layers(tiny_config.replace(max_length=16))
    assert len(scan.influence) == 4 and scan.texts == 64  # the tiny teacher has 4 blocks; 64 training reviews
    assert scan.configured == [1, 3] and len(scan.suggested) == 2  # 2 of 4 evenly spaced: [1, 3]
    assert scan.suggested == suggest_layers(scan.influence, 2)
    assert 64 <= scan.tokens <= 64 * 16


def test_the_language_model_scan(tmp_path_factory):
    from distill_core.tasks import get_task
    from tests.support.lm import tiny_lm_config, tiny_lm_dir

    config = tiny_lm_config(tiny_lm_dir(tmp_path_factory))
    scan = get_task("causal-lm").scan_layers(config)
    assert len(scan.influence) == 4 and scan.texts == 16 and scan.tokens == 16 * 32
    assert scan.suggested == suggest_layers(scan.influence, 2)


def test_scan_lines_draw_bars_and_say_what_to_keep():
    scan = {"influence": [0.5, 0.1, 0.25], "suggested": [0, 2], "configured": [0, 1], "tokens": 1234, "texts": 8,
            "model": "minilm", "notes": ["the base weights"]}
    assert scan_rows(scan)[1] == {"layer": 1, "influence": 0.1, "kept": True, "suggested": False}
    lines = scan_lines(scan)
    assert lines[1].split()[:3] == ["0", "0.5000", "#" * 30]
    assert lines[2].split()[:3] == ["1", "0.1000", "#" * 6]  # 30 x 0.1 / 0.5
    assert lines[4] == "the scan suggests keeping [0, 2]; the config keeps [0, 1]"
    assert "over 1,234 tokens of 8 training inputs of minilm" in lines[5]
    assert lines[6] == "note: the base weights"


def test_cli_scan_prints_the_table_and_writes_json(tiny_config, tmp_path, capsys):
    from distill_core.cli import main

    config_file = tmp_path / "run.json"
    config_file.write_text(tiny_config.to_json())
    out_file = tmp_path / "scan.json"
    assert main(["scan", "--config", str(config_file), "--set", "student.num_layers=1", "--json",
                 str(out_file)]) == 0
    printed = capsys.readouterr().out
    scan = json.loads(out_file.read_text())
    assert len(scan["suggested"]) == 1 and scan["suggested"] == suggest_layers(scan["influence"], 1)
    assert f"use it: --set 'student.layers={json.dumps(scan['suggested'])}'" in printed
    assert printed.startswith("layer  influence")


def test_a_scan_fits_another_student_and_its_chart_draws_the_values():
    from distill_core.views.layer_scan import SUGGESTED_COLOR, for_student, scan_figure

    scan = {"influence": [0.5, 0.1, 0.25, 0.3], "suggested": [0, 3], "configured": [1, 3], "tokens": 10,
            "texts": 2, "model": "m"}
    three = for_student(scan, [0, 1, 2])
    assert three["suggested"] == [0, 2, 3] and three["configured"] == [0, 1, 2]
    bar = scan_figure(three).data[0]
    assert list(bar.x) == [0, 1, 2, 3] and list(bar.y) == [0.5, 0.1, 0.25, 0.3]
    assert [c == SUGGESTED_COLOR for c in bar.marker.color] == [True, False, True, True]
    assert list(bar.marker.line.width) == [2.5, 2.5, 2.5, 0]  # outlined: what the config keeps now
