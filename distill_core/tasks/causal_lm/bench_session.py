"""One causal-LM variant inside its measuring process (measure/rounds.py starts it): load, memory, size, held-out
quality where asked, the greedy sample text; then one timing sample per request.

Keys: "prefill/1" (one sample: the median ms of `reps` forward passes over the prompt, batch 1, KV cache on, `reps`
chosen at warm-up so a sample lasts about `sample_ms`) and "decode/1" (one sample: one greedy generation of exactly
`max_new_tokens` tokens; its ms per token after the first).
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from distill_core.core.device import resolve_device
from distill_core.measure.flops import flops_at, flops_curve
from distill_core.measure.memory import RssSampler
from distill_core.measure.records import MemoryRecord, SizeRecord
from distill_core.measure.timing import PassTimer
from distill_core.tasks.causal_lm.bench_config import LMBenchConfig
from distill_core.tasks.causal_lm.generate import continue_text, encode_prompt
from distill_core.tasks.causal_lm.heldout import load_heldout
from distill_core.tasks.causal_lm.repetition import heldout_repetition

PREFILL, DECODE = "prefill/1", "decode/1"


def _import_model_code(ref: str, trust_remote_code: bool, quantize: bool) -> None:
    """Import the libraries and model class first, so the baseline RSS already holds their code."""
    from transformers import AutoModelForCausalLM

    from distill_core.tasks.causal_lm import teacher as lm_teacher

    config = lm_teacher.load_teacher_config(ref, trust_remote_code)
    try:
        AutoModelForCausalLM._model_mapping[type(config)]  # imports the modeling module
    except Exception:
        pass
    if quantize:
        from distill_core.models.quantize import import_torchao

        try:
            import_torchao()
        except ImportError:
            pass


class LMSession:
    """A loaded causal-LM variant: `report` (size, memory, quality, sample text...) and `sample(key)` (ms)."""

    keys = (PREFILL, DECODE)
    timing_fields = ("prefill_passes",)  # from the process that times (rounds.py)

    def __init__(self, name: str, ref: str, quantize: bool, trust_remote_code: bool, cfg: dict, prompt: str,
                 max_new_tokens: int, block_size: int, heldout: str | None):
        from distill_core.measure import machine
        from distill_core.models import quantize as quantize_mod
        from distill_core.models import students
        from distill_core.tasks.causal_lm import teacher as lm_teacher

        c = LMBenchConfig.from_dict(cfg)
        device = resolve_device(c.device, "bench.device")
        _import_model_code(ref, trust_remote_code, quantize)
        sampler = RssSampler(c.memory_interval_ms).start()
        started = time.perf_counter()
        model = lm_teacher.load_causal_lm(ref, trust_remote_code)
        self.tokenizer = lm_teacher.load_tokenizer(ref, trust_remote_code)
        load_seconds = time.perf_counter() - started
        length = min(block_size, getattr(model.config, "max_position_embeddings", None) or block_size)
        curve = flops_curve(model, length)  # on the fp32 model: int8 does the same multiply-adds
        parameters = sum(p.numel() for p in model.parameters())
        started = time.perf_counter()
        model.to(device)
        qrecord = None
        if quantize:
            model, qrecord = quantize_mod.quantize_int8(model, c.quantization, device)
        load_seconds += time.perf_counter() - started
        self.model, self.prompt, self.max_new_tokens = model, prompt, max_new_tokens
        self.ids = encode_prompt(self.tokenizer, prompt).to(device)
        self.timer = PassTimer(device)
        with torch.inference_mode():
            self._prefill()  # warm-up, inside the memory window
            first = continue_text(model, self.tokenizer, prompt, max_new_tokens, stop_at_eos=False)
            sampler.stop()
            one = self.timer.time(self._prefill)
        self.reps = max(1, math.ceil(c.sample_ms / max(one, 1e-3)))
        memory = MemoryRecord(**sampler.record(device))
        flops = flops_at(curve, length)
        size = SizeRecord(parameters=parameters, weight_bytes=students.weight_bytes(model),
                          int8_elements=quantize_mod.int8_elements(model), flops_per_input_fixed=int(round(flops)),
                          flops_per_input_real=flops, fixed_length=length, flops_curve=curve)
        self._heldout = heldout if c.quality and heldout and (c.quality_variants is None or
                                                              name in c.quality_variants) else None
        self._prompts_from = heldout if c.heldout_prompts else None
        self._heldout_prompts = c.heldout_prompts
        self.device = device
        self.report = {"name": name, "ref": ref, "status": "ok", "device": device,
                       "threads": torch.get_num_threads(), "load_seconds": load_seconds,
                       "quantization": qrecord.to_dict() if qrecord else None, "memory": memory.to_dict(),
                       "size": size.to_dict(), "quality": None, "machine": machine.machine_record(device).to_dict(),
                       "sample_text": first.text, "sample_repetition": first.repetition,
                       "prompt_tokens": int(self.ids.shape[1]),
                       "new_tokens": first.new_tokens, "prefill_passes": self.reps}

    def finish(self) -> dict:
        """After the timing, with all threads: {"quality": held-out perplexity, agreement and KL, or None;
        "heldout_repetition": repetition.HeldOutRepetition (as a dict) of greedy continuations of held-out starts,
        or None}."""
        from distill_core.tasks.causal_lm import evaluate as lm_evaluate

        out = {"quality": None, "heldout_repetition": None}
        path = self._heldout or self._prompts_from
        if path is None:
            return out
        blocks, topk = load_heldout(path)
        if self._prompts_from is not None:
            out["heldout_repetition"] = heldout_repetition(self.model, self.tokenizer, blocks, self._heldout_prompts,
                                                           new_tokens=self.max_new_tokens).to_dict()
        if self._heldout is not None:
            with torch.inference_mode():
                quality = lm_evaluate.block_quality(self.model, blocks, topk, device=self.device)
            quality.pop("block_nll")  # per-block: the run's paired tests use them, a measurement does not
            out["quality"] = quality
        return out

    def _prefill(self) -> None:
        self.model(input_ids=self.ids, use_cache=True)

    def sample(self, key: str) -> float:
        """One timing sample: the median ms of `reps` prefill passes (one interrupted pass does not move it; with
        one or two it is their mean), or ms per generated token after the first."""
        with torch.inference_mode():
            if key == PREFILL:
                return float(statistics.median(self.timer.time(self._prefill) for _ in range(self.reps)))
            run = continue_text(self.model, self.tokenizer, self.prompt, self.max_new_tokens, stop_at_eos=False)
            return 1e3 / run.decode_tokens_per_s if run.decode_tokens_per_s > 0 else math.nan


def open_session(*args) -> LMSession:
    """rounds.time_interleaved's setup, in the measuring process."""
    return LMSession(*args)
