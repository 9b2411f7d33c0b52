"""The causal-LM task: distilling a language model's next-token distributions (see task.py)."""

NAME = "causal-lm"  # the config's `task` value

# What every measuring process imports (measure/processes.process_context). Here, where the CLI reads it without
# importing torch (cli/entry.py).
BENCH_PRELOAD = ("distill_core.tasks.causal_lm.bench_session", "transformers.modeling_utils",
                 "transformers.models.auto.modeling_auto", "transformers.quantizers.auto",
                 "transformers.models.llama.modeling_llama", "torchao")
