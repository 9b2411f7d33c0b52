"""The New run form's option labels and help texts (kept apart so the sections read as layout)."""

TEMPERATURE_HELP = ("T softens both distributions before they are compared: higher T shows more of the teacher's "
                    "view of the wrong classes (the soft-target term is scaled by T²).")
RUNTIMES_HELP = ("Eager PyTorch, and ONNX Runtime (what most CPU deployments run): each variant is exported to ONNX, "
                 "fp32 and int8, and measured in the same rounds. The student zip then holds the ONNX files.")
ALPHA_HELP = "Weight of the soft-target term; the rest (1 − alpha) goes to cross-entropy on the true labels."
STUDENT_KINDS = {"keep-layers": "keep some teacher layers", "shrink": "shrink depth / width",
                 "model": "another model"}
SHRINK_INITS = {"teacher": "weights selected from the teacher", "base": "selected from the base (pre-fine-tune) model",
                "random": "fresh random weights"}
SHRINK_INIT_HELP = ("Selecting keeps the teacher's most important residual dimensions, heads and feed-forward neurons "
                    "(student layer i from the i-th teacher layer you pick); it needs whole teacher heads.")
