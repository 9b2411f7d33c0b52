"""How a causal-LM run's variants are measured (bench.py reads it; each measuring process gets it as a dict)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class LMBenchConfig:
    """How to measure a causal-LM run's variants. Prompt and token count default to the run's `lm` settings."""

    prompt: str | None = None  # None: the run's lm.prompt
    max_new_tokens: int | None = None  # None: the run's lm.max_new_tokens
    min_rounds: int = 9  # interleaved rounds (one prefill sample and one generation per variant each), at least
    timing_seconds: float = 5.0  # seconds of rounds, at least
    max_timing_seconds: float = 90.0  # stop the rounds here even short of min_rounds
    quiet_wait_seconds: float = 0.0  # while short of quiet rounds, time on until the rounds lasted this long (s)
    timing: str = "one-process"  # one-process: every variant timed in one process (mirrored order); per-variant
    sample_ms: float = 100.0  # a prefill sample lasts about this long
    threads: int = 0  # torch intra-op threads in each measuring process (0: core.device.timing_threads)
    device: str = "auto"  # auto | cpu | cuda
    quantization: str = "auto"  # int8 method: auto | one of quantize.METHODS
    quality: bool = True  # perplexity, agreement and KL on the run's held-out blocks
    heldout_prompts: int = 16  # greedy continuations of this many held-out block starts: their repeated 4-grams
    #                            (0: none; generate.heldout_repetition)
    quality_variants: list[str] | None = None  # measure quality only for these (None: all); the others take the
    #                                           run's results.json figures (the same blocks, the same code)
    memory_interval_ms: float = 5.0  # psutil RSS sampling period while loading and warming up
    variant_timeout_s: float = 600.0  # a measuring process still busy after this is stopped (error entry)
    matmul_size: int = 2048  # n of the fp32 matmul that measures the machine's peak (cached per machine)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LMBenchConfig":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
