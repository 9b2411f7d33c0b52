"""The classification task: distilling a classifier's soft labels (see task.py)."""

NAME = "classification"  # the config's `task` value

# What every measuring process imports (measure/processes.process_context): the session, transformers' model and
# quantizer code, the usual architectures, torchao. Here, where the CLI reads it without importing torch (cli/entry.py).
BENCH_PRELOAD = ("distill_core.tasks.classification.bench_session", "transformers.modeling_utils",
                 "transformers.models.auto.modeling_auto", "transformers.quantizers.auto",
                 "transformers.models.bert.modeling_bert", "torchao")
