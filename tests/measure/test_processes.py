"""Measuring processes: the fork server imports what the parent's main module imports, once."""

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

from distill_core.measure import processes

REPO = Path(__file__).resolve().parents[2]


def test_the_preload_adds_the_modules_the_main_module_took_names_from(monkeypatch):
    main = types.ModuleType("__main__")
    main.loads, main.os, main.number = json.loads, os, 3
    monkeypatch.setitem(sys.modules, "__main__", main)

    assert processes._with_main(("a.b",)) == ["a.b", "json", "os"]


def test_a_main_run_with_dash_m_is_preloaded_by_name_unless_it_is_a_packages_main(monkeypatch):
    for spec_name, expected in (("distill_core.core.errors", ["distill_core.core.errors"]),
                                ("distill_core.cli.__main__", [])):
        main = types.ModuleType("__main__")
        main.__spec__ = types.SimpleNamespace(name=spec_name)
        monkeypatch.setitem(sys.modules, "__main__", main)
        assert processes._with_main(()) == expected


def test_children_of_a_script_do_not_import_its_modules_again(tmp_path):
    """Each import of `heavy` appends a line: the parent's and the fork server's, not one per child (multiprocessing
    runs the main script again in every child; its `import heavy` then finds the server's copy)."""
    (tmp_path / "heavy.py").write_text(textwrap.dedent(f"""
        with open({str(tmp_path / 'imports.txt')!r}, "a") as f:
            f.write("imported\\n")

        def work(conn):
            conn.send("ok")
    """))
    (tmp_path / "main.py").write_text(textwrap.dedent("""
        import heavy
        from distill_core.measure.processes import process_context

        if __name__ == "__main__":
            ctx = process_context(("json",))
            for _ in range(3):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=heavy.work, args=(child,))
                proc.start()
                assert parent.recv() == "ok"
                proc.join()
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    subprocess.run([sys.executable, str(tmp_path / "main.py")], env=env, check=True, timeout=120, cwd=tmp_path)

    assert (tmp_path / "imports.txt").read_text().count("imported") == 2
