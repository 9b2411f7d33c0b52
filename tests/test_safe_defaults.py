"""Safe defaults: no code path unpickles files or runs a model's own code unless asked; sharing the app is a
documented, deliberate step. (The local-only server binding is tested in tests/ui/test_pages.py.)"""

import ast
from pathlib import Path

import pytest

from distill_core.core.config import RunConfig, from_dict
from distill_core.tasks import presets

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["distill_core", "app_pages", "app.py", "scripts", "benchmarks"]
PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle"}


def _dotted(node: ast.expr) -> str:
    """`torch.load` for the call target torch.load; '' for targets that are not plain names."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_constructs(source: str, filename: str = "<source>") -> list[str]:
    """Each construct in `source` that could run code from a file, as 'filename:line: what': pickle imports,
    torch.load without a literal weights_only=True, np.load(allow_pickle=True), trust_remote_code=True."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLERS:
            found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module == "torch" and any(a.name == "load" for a in node.names):
            found.append(f"{where}: from torch import load (hides torch.load from this check)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            keywords = {k.arg: k.value for k in node.keywords}
            if name == "torch.load" and not _is_true(keywords.get("weights_only")):
                found.append(f"{where}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and _is_true(keywords.get("allow_pickle")):
                found.append(f"{where}: {name}(allow_pickle=True)")
            if _is_true(keywords.get("trust_remote_code")):
                found.append(f"{where}: trust_remote_code=True")
    return found


def _python_files() -> list[Path]:
    files = []
    for entry in SCANNED:
        path = ROOT / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


@pytest.mark.parametrize("snippet, what", [
    ("import pickle\n", "import pickle"),
    ("import cloudpickle as cp\n", "import cloudpickle"),
    ("from pickle import loads\n", "from pickle"),
    ("from torch import load\n", "from torch import load"),
    ("import torch\nstate = torch.load(path)\n", "torch.load without weights_only"),
    ("import torch\nstate = torch.load(path, weights_only=False)\n", "torch.load without weights_only"),
    ("import torch\nstate = torch.load(path, **options)\n", "torch.load without weights_only"),
    ("import numpy as np\narr = np.load(path, allow_pickle=True)\n", "allow_pickle=True"),
    ("model = AutoModel.from_pretrained(ref, trust_remote_code=True)\n", "trust_remote_code=True"),
])
def test_scan_catches_each_unsafe_construct(snippet, what):
    found = unsafe_constructs(snippet, "bad.py")
    assert len(found) == 1 and what in found[0] and found[0].startswith("bad.py:")


def test_scan_passes_the_safe_forms():
    safe = ("import torch, numpy as np\n"
            "state = torch.load(path, weights_only=True, map_location='cpu')\n"
            "arr = np.load(path)\n"
            "arr = np.load(path, allow_pickle=False)\n"
            "model = AutoModel.from_pretrained(ref, trust_remote_code=cfg.teacher.trust_remote_code)\n"
            "tok = AutoTokenizer.from_pretrained(ref, trust_remote_code=False)\n"
            "# import pickle  (a comment is not code)\n"
            "note = 'torch.load(path)'\n")
    assert unsafe_constructs(safe) == []


def test_no_source_file_unpickles_or_trusts_remote_code():
    files = _python_files()
    assert len(files) > 20 and ROOT / "app.py" in files
    assert ROOT / "distill_core" / "tasks" / "classification" / "data.py" in files
    found = [hit for f in files for hit in unsafe_constructs(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert found == []


def test_remote_code_is_off_unless_the_user_asks():
    assert RunConfig().teacher.trust_remote_code is False
    assert from_dict({}).teacher.trust_remote_code is False
    assert not [name for name in presets.preset_names() if presets.get_preset(name).teacher.trust_remote_code]


def test_readme_documents_how_to_share_the_app_deliberately():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--server.address 0.0.0.0" in readme
