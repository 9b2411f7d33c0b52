"""The top-k teacher cache: what it keeps, the tail mass, its file round-trip and fingerprint."""

import pytest
import torch

from distill_core.tasks.causal_lm import teacher_cache as cache
from distill_core.tasks.causal_lm.teacher_cache import TopK


class _Fixed(torch.nn.Module):
    """A fake causal LM: next-token logits depend only on the current token (an embedding table)."""

    def __init__(self, vocab=20):
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(vocab, vocab)
        self.config = type("C", (), {"vocab_size": vocab})()
        self.calls = 0

    def forward(self, input_ids):
        self.calls += 1
        return type("Out", (), {"logits": self.table(input_ids)})()


def test_top_k_keeps_the_largest_log_probs_and_the_tail_holds_the_rest():
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 30)
    targets = torch.randint(0, 30, (2, 7))
    t = cache.topk_of_logits(logits, targets, 5)
    full = torch.log_softmax(logits, -1)
    assert t.logprobs.dtype == torch.float16 and t.indices.dtype == torch.int32
    assert torch.equal(t.indices.long(), full.topk(5, -1).indices)
    mass = t.logprobs.float().exp().sum(-1) + t.tail.exp()
    assert torch.allclose(mass, torch.ones(2, 7), atol=2e-3)
    assert torch.allclose(t.tail.exp(), 1 - full.topk(5, -1).values.exp().sum(-1), atol=1e-5)
    assert torch.allclose(t.target, full.gather(-1, targets.unsqueeze(-1)).squeeze(-1))


def test_file_round_trip_is_exact():
    torch.manual_seed(1)
    t = cache.topk_of_logits(torch.randn(3, 5, 40), torch.randint(0, 40, (3, 5)), 8)
    cache.store("abc", t)
    again = cache.load("abc", 3, 5, 8)
    assert again.hit
    for name in ("logprobs", "indices", "tail", "target"):
        assert torch.equal(getattr(again, name), getattr(t, name))
    assert t.nbytes() == 3 * 5 * (8 * 6 + 8)  # fp16 + int32 per kept token, two fp32 per position


def test_wrong_shape_or_corrupt_file_is_a_miss():
    t = cache.topk_of_logits(torch.randn(2, 4, 10), torch.randint(0, 10, (2, 4)), 3)
    cache.store("k1", t)
    assert cache.load("k1", 2, 4, 4) is None
    assert cache.load("k1", 3, 4, 3) is None
    cache.cache_path("k2").write_bytes(b"not safetensors")
    assert cache.load("k2", 2, 4, 3) is None


def test_teacher_runs_once_per_fingerprint_and_k_is_part_of_it():
    model = _Fixed()
    blocks = torch.randint(0, 20, (5, 9))
    first = cache.teacher_topk("fp", model, blocks, 4, batch_size=2)
    assert not first.hit and model.calls == 3 and first.logprobs.shape == (5, 8, 4)
    again = cache.teacher_topk("fp", model, blocks, 4, batch_size=2)
    assert again.hit and model.calls == 3
    assert not cache.teacher_topk("fp", model, blocks, 6).hit  # another k
    assert not cache.teacher_topk("other-teacher", model, blocks, 4).hit
    assert not cache.teacher_topk("fp", model, blocks[:4], 4).hit  # other data
    assert cache.fingerprint("fp", blocks, 4) != cache.fingerprint("fp", blocks, 5)


def test_k_is_capped_by_the_vocabulary_and_cancel_returns_none():
    model = _Fixed(vocab=6)
    blocks = torch.randint(0, 6, (2, 5))
    assert cache.teacher_topk("fp", model, blocks, 64).indices.shape[-1] == 6
    assert cache.compute(model, blocks, 3, should_stop=lambda: True) is None


def test_rows_selects_blocks():
    t = TopK(torch.zeros(4, 3, 2, dtype=torch.float16), torch.zeros(4, 3, 2, dtype=torch.int32),
             torch.arange(12.0).view(4, 3), torch.zeros(4, 3))
    assert torch.equal(t.rows(torch.tensor([2, 0])).tail[:, 0], torch.tensor([6.0, 0.0]))
    assert len(t.rows(slice(1, 3))) == 2


@pytest.mark.parametrize("k", [1, 16])
def test_target_log_prob_gives_the_teacher_perplexity(k):
    from distill_core.tasks.causal_lm.evaluate import teacher_quality

    logits = torch.zeros(1, 4, 16)  # uniform: perplexity = vocabulary size
    q = teacher_quality(cache.topk_of_logits(logits, torch.zeros(1, 4, dtype=torch.long), k))
    assert q["perplexity"] == pytest.approx(16.0, rel=1e-5)
