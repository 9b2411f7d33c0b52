"""The architecture, checked: the import contract in pyproject.toml ([tool.importlinter]), no import cycles inside
distill_core, task names only inside distill_core/tasks/, no `lm_*` modules, and modules small enough to read.

Reads source files only (import-linter and grimp parse them; nothing here imports the app or torch)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "distill_core"
TASKS = PACKAGE / "tasks"
PAGES = ROOT / "app_pages"

TASK_NAMES = {"classification", "causal-lm"}  # the registered task names: only distill_core/tasks/ may spell them
MAX_MODULE_LINES = 400  # any module of distill_core
MAX_PAGE_LINES = 200  # any file under app_pages/


def _contract_ids() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [contract["id"] for contract in config["tool"]["importlinter"]["contracts"]]


def _lint_imports_command() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail("import-linter is not installed: `.venv/bin/python -m pip install -e '.[test]'`")
    return [str(exe)]


def _source_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _fail_on(offenders: list[str], what: str) -> None:
    if offenders:
        pytest.fail(f"{what}:\n  " + "\n  ".join(offenders), pytrace=False)


# (a) The import-linter contracts: layers, independent tasks, no streamlit in distill_core.

@pytest.mark.parametrize("contract", _contract_ids())
def test_import_contract_is_kept(contract):
    # lint-imports reads pyproject.toml from its working folder; broken chains are in its report.
    proc = subprocess.run([*_lint_imports_command(), "--contract", contract, "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        report = proc.stdout[proc.stdout.find("Contracts"):] if "Contracts" in proc.stdout else proc.stdout
        pytest.fail(f"import contract {contract!r} is broken:\n{report}\n{proc.stderr}".rstrip(), pytrace=False)


# (b) No import cycles between the modules of distill_core (grimp: import-linter's own graph).

def find_cycles(modules, imported_by) -> list[list[str]]:
    """One cycle per back edge of a depth-first search over `modules`; `imported_by(m)` is what m imports directly.
    Each cycle is [a, b, ..., a]; empty when the graph is acyclic."""
    modules = set(modules)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def visit(start: str) -> None:
        stack = [(start, iter(sorted(imported_by(start) & modules)))]
        state[start] = 1
        path.append(start)
        while stack:
            module, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[module] = 2
            elif state.get(child) == 1:  # back edge: the path from child to here, then back to child
                cycle = path[path.index(child):]
                key = tuple(sorted(cycle))
                if key not in seen:
                    seen.add(key)
                    cycles.append([*cycle, child])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(imported_by(child) & modules))))

    for module in sorted(modules):
        if module not in state:
            visit(module)
    return cycles


def test_find_cycles_reports_a_cycle_and_passes_a_dag():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycles(graph, graph.__getitem__) == [["a", "b", "c", "a"]]
    graph["c"] = {"d"}
    assert find_cycles(graph, graph.__getitem__) == []


def test_no_import_cycles_in_distill_core():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the test extra)")
    sys.path.insert(0, str(ROOT))  # grimp finds the package by import name
    try:
        graph = grimp.build_graph("distill_core", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    cycles = find_cycles(graph.modules, graph.find_modules_directly_imported_by)

    def hop(importer: str, imported: str) -> str:
        lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
        return f"{importer} -> {imported} (l.{', '.join(map(str, lines))})"

    _fail_on(["cycle:\n      " + "\n      ".join(hop(a, b) for a, b in zip(cycle, cycle[1:])) for cycle in cycles],
             f"{len(cycles)} import cycle(s) in distill_core")


# (c) Task modules live in their task's folder, not as lm_* modules.

def test_no_lm_prefixed_modules():
    offenders = [_rel(p) for p in _source_files(PACKAGE) if p.name.startswith("lm_")]
    _fail_on(offenders, "modules named lm_*.py (their place is distill_core/tasks/causal_lm/)")


# (d) Only distill_core/tasks/ names a task: everything else asks the task registry.

def task_name_literals(source: str, filename: str = "<source>") -> list[str]:
    """`file:line "name"` for each string constant in `source` that is exactly a task name."""
    return [f"{filename}:{node.lineno} {node.value!r}" for node in ast.walk(ast.parse(source, filename))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TASK_NAMES]


def test_task_name_scan_catches_comparisons_and_passes_prose():
    assert task_name_literals('if cfg.task == "causal-lm":\n    pass\n', "x.py") == ["x.py:1 'causal-lm'"]
    assert task_name_literals('KIND = {"classification": 1}\n', "x.py") == ["x.py:1 'classification'"]
    assert task_name_literals('"""A classification run."""\nlabel = "causal-lm run"\n') == []


def test_task_names_appear_only_inside_distill_core_tasks():
    files = [p for p in _source_files(PACKAGE) if TASKS not in p.parents] + _source_files(PAGES) + [ROOT / "app.py"]
    found = [hit for p in files for hit in task_name_literals(p.read_text(encoding="utf-8"), _rel(p))]
    _fail_on(found, "task names spelled outside distill_core/tasks/ (ask the task registry instead)")


# (e) Modules small enough to read in one go.

def _longer_than(files: list[Path], limit: int) -> list[str]:
    counts = ((p, len(p.read_text(encoding="utf-8").splitlines())) for p in files)
    return [f"{_rel(p)}: {n} lines" for p, n in sorted(counts, key=lambda c: -c[1]) if n > limit]


def test_no_distill_core_module_over_400_lines():
    offenders = _longer_than(_source_files(PACKAGE), MAX_MODULE_LINES)
    _fail_on(offenders, f"modules of distill_core over {MAX_MODULE_LINES} lines")


def test_no_page_file_over_200_lines():
    offenders = _longer_than(_source_files(PAGES), MAX_PAGE_LINES)
    _fail_on(offenders, f"files in app_pages/ over {MAX_PAGE_LINES} lines")


def test_no_pages_folder_next_to_the_entrypoint():
    """Streamlit treats a `pages/` folder beside app.py as an old-style multipage app: until some session opens the
    root URL, a visitor who opens /runs directly gets pages/runs.py run alone (no app.py: no navigation, no room
    sidebar) and every module in the folder listed as a page. The UI lives in app_pages/ for that reason."""
    assert not (ROOT / "pages").exists()
